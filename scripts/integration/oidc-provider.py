"""An OpenID Connect provider for the integration tests, standing in for the identity provider a preset names.

It logs in one user without asking (the user a test gives), so that a test can walk the authorization code flow
that Airflow's FAB auth manager (Flask-AppBuilder with Authlib) runs, as a browser and the provider would: discovery,
the authorization endpoint, the token endpoint (the client authenticates with its secret; the ID token is RS256-signed,
carries the nonce and is checked by Authlib against the JWKS), and the userinfo endpoint with the user's groups.
Endpoints follow Keycloak's layout under the issuer. Run with the Airflow venv's Python (PyJWT, cryptography):
  OIDC_ISSUER OIDC_CLIENT_ID OIDC_CLIENT_SECRET OIDC_USER (JSON userinfo) OIDC_CERT OIDC_KEY OIDC_PORT
  OIDC_SIGNING_KEY: a PEM file with the ID tokens' signing key, made on the first start and kept, so that a restarted
  provider signs as before (Authlib keeps the key set it fetched).
Every request is logged to stderr; a request that breaks the protocol gets 400 with the reason.
"""
import base64
import json
import os
import secrets
import ssl
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = os.environ['OIDC_ISSUER'].rstrip('/')
CLIENT_ID = os.environ['OIDC_CLIENT_ID']
CLIENT_SECRET = os.environ['OIDC_CLIENT_SECRET']
USER = json.loads(os.environ['OIDC_USER'])
BASE = urllib.parse.urlsplit(ISSUER).path
if os.path.exists(os.environ['OIDC_SIGNING_KEY']):
    with open(os.environ['OIDC_SIGNING_KEY'], 'rb') as f:
        KEY = serialization.load_pem_private_key(f.read(), password=None)
else:
    KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with open(os.environ['OIDC_SIGNING_KEY'], 'wb') as f:
        f.write(KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
JWK = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key())), 'kid': 'test', 'use': 'sig', 'alg': 'RS256'}
ENDPOINTS = {
    'authorization_endpoint': f'{ISSUER}/protocol/openid-connect/auth',
    'token_endpoint': f'{ISSUER}/protocol/openid-connect/token',
    'userinfo_endpoint': f'{ISSUER}/protocol/openid-connect/userinfo',
    'jwks_uri': f'{ISSUER}/protocol/openid-connect/certs',
}
codes = {}  # code -> (nonce, redirect_uri)
access_tokens = set()


class Refused(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else b''
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body is not None:
            self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def route(self, method):
        url = urllib.parse.urlsplit(self.path)
        path = url.path[len(BASE):] if url.path.startswith(BASE) else None
        try:
            if method == 'GET' and path == '/.well-known/openid-configuration':
                return self.reply(200, {'issuer': ISSUER, **ENDPOINTS, 'response_types_supported': ['code'],
                                        'subject_types_supported': ['public'], 'id_token_signing_alg_values_supported': ['RS256'],
                                        'token_endpoint_auth_methods_supported': ['client_secret_basic', 'client_secret_post']})
            if method == 'GET' and path == '/protocol/openid-connect/certs':
                return self.reply(200, {'keys': [JWK]})
            if method == 'GET' and path == '/protocol/openid-connect/auth':
                return self.authorize(dict(urllib.parse.parse_qsl(url.query)))
            if method == 'POST' and path == '/protocol/openid-connect/token':
                return self.token()
            if method == 'GET' and path == '/protocol/openid-connect/userinfo':
                auth = self.headers.get('Authorization', '')
                if not auth.startswith('Bearer ') or auth[7:] not in access_tokens:
                    raise Refused('userinfo without a valid access token')
                return self.reply(200, USER)
            return self.reply(404, {'error': f'no {method} {url.path}'})
        except Refused as e:
            print(f'oidc-provider: refused: {e}', file=sys.stderr, flush=True)
            return self.reply(400, {'error': 'invalid_request', 'error_description': str(e)})

    def authorize(self, q):
        if q.get('client_id') != CLIENT_ID:
            raise Refused(f'client_id {q.get("client_id")!r}')
        if q.get('response_type') != 'code' or 'openid' not in q.get('scope', '').split():
            raise Refused(f'response_type {q.get("response_type")!r}, scope {q.get("scope")!r}')
        if not q.get('redirect_uri') or not q.get('state'):
            raise Refused('no redirect_uri or state')
        code = secrets.token_urlsafe(16)
        codes[code] = (q.get('nonce'), q['redirect_uri'])
        location = q['redirect_uri'] + ('&' if '?' in q['redirect_uri'] else '?') + urllib.parse.urlencode({'code': code, 'state': q['state']})
        return self.reply(302, headers={'Location': location})

    def token(self):
        form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers.get('Content-Length', 0))).decode()))
        auth = self.headers.get('Authorization', '')
        if auth.startswith('Basic '):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(':')
            client_id, secret = urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)
        else:
            client_id, secret = form.get('client_id'), form.get('client_secret')
        if client_id != CLIENT_ID or secret != CLIENT_SECRET:
            raise Refused('client authentication failed')
        if form.get('grant_type') != 'authorization_code' or form.get('code') not in codes:
            raise Refused(f'grant_type {form.get("grant_type")!r} or an unknown code')
        nonce, redirect_uri = codes.pop(form['code'])
        if form.get('redirect_uri') != redirect_uri:
            raise Refused('redirect_uri differs from the authorization request')
        now = int(time.time())
        claims = {'iss': ISSUER, 'sub': USER['sub'], 'aud': CLIENT_ID, 'iat': now, 'exp': now + 300, 'auth_time': now,
                  **({'nonce': nonce} if nonce else {}), 'preferred_username': USER.get('preferred_username')}
        access = secrets.token_urlsafe(24)
        access_tokens.add(access)
        return self.reply(200, {'access_token': access, 'token_type': 'Bearer', 'expires_in': 300,
                                'id_token': jwt.encode(claims, KEY, algorithm='RS256', headers={'kid': 'test'})})

    def do_GET(self):
        self.route('GET')

    def do_POST(self):
        self.route('POST')

    def log_message(self, fmt, *args):
        print('oidc-provider: ' + fmt % args, file=sys.stderr, flush=True)


server = ThreadingHTTPServer(('127.0.0.1', int(os.environ['OIDC_PORT'])), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(os.environ['OIDC_CERT'], os.environ['OIDC_KEY'])
server.socket = context.wrap_socket(server.socket, server_side=True)
print(f'oidc-provider: serving {ISSUER}', file=sys.stderr, flush=True)
server.serve_forever()
