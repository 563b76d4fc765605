#!/usr/bin/env python3
"""A Git smart-HTTP server over HTTPS for the e2e cluster: it stands in for https://github.com.

Every request is handed to `git http-backend` (CGI) with GIT_PROJECT_ROOT=<root> and GIT_HTTP_EXPORT_ALL,
so that <root>/apache/airflow.git is served as https://github.com/apache/airflow.git once CoreDNS answers
github.com with this machine's address (scripts/e2e/images/dns.sh) and the client trusts the e2e CA
(the git-sync image does: scripts/e2e/images/build.sh). Fetch only: pushes (git-receive-pack) are refused.
Python 3 standard library only.

  scripts/e2e/git-server.py --root DIR --cert CRT --key KEY [--bind 10.244.0.1] [--port 443]

Normally started and stopped by scripts/e2e/images/git-server.sh, which also makes the CA, the
certificate and the repository.
"""
import argparse
import http.server
import os
import shutil
import socketserver
import ssl
import subprocess
import sys
import urllib.parse

GIT = shutil.which("git") or "/usr/bin/git"


class GitHandler(http.server.BaseHTTPRequestHandler):
    server_version = "e2e-git-server/1"
    protocol_version = "HTTP/1.1"

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()  # the CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _cgi(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        if "git-receive-pack" in path or "service=git-receive-pack" in url.query:
            self._reply(403, b"read-only server\n")
            return
        body = self._body()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": self.server.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_SOFTWARE": self.server_version,
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": url.query,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            # The repositories belong to root, the server too; still, never trip over "dubious ownership".
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "safe.directory",
            "GIT_CONFIG_VALUE_0": "*",
        }
        # HTTP_* as CGI defines them: http-backend reads HTTP_GIT_PROTOCOL (protocol v2) and
        # HTTP_CONTENT_ENCODING (gzip-compressed requests) from there.
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING"):
                env[key] = value
        proc = subprocess.run([GIT, "http-backend"], input=body, env=env, capture_output=True, timeout=300)
        if proc.stderr:
            sys.stderr.write(proc.stderr.decode(errors="replace"))
        head, sep, payload = proc.stdout.partition(b"\r\n\r\n")
        if not sep:
            head, sep, payload = proc.stdout.partition(b"\n\n")
        if not sep:
            self._reply(500, b"git http-backend gave no CGI headers\n")
            return
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _reply(self, status: int, text: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    do_GET = do_POST = do_HEAD = _cgi

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        sys.stderr.write("git-server: %s %s\n" % (self.client_address[0], format % args))


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    context: ssl.SSLContext
    root: str

    def finish_request(self, request, client_address) -> None:
        # The TLS handshake happens in the connection's own thread: a stalled client cannot block accept().
        request.settimeout(60)
        try:
            request = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            sys.stderr.write(f"git-server: {client_address[0]}: TLS handshake failed: {e}\n")
            return
        super().finish_request(request, client_address)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the project root: <root>/<owner>/<name>.git")
    parser.add_argument("--cert", required=True, help="PEM certificate (chain) of the server")
    parser.add_argument("--key", required=True, help="PEM private key of the certificate")
    parser.add_argument("--bind", default="10.244.0.1", help="address to listen on (the e2e node IP)")
    parser.add_argument("--port", type=int, default=443)
    args = parser.parse_args()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.cert, args.key)
    server = Server((args.bind, args.port), GitHandler)
    server.root = os.path.abspath(args.root)
    server.context = context
    sys.stderr.write(f"git-server: serving {server.root} on https://{args.bind}:{args.port}/\n")
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
