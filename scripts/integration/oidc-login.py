"""Walks the single sign-on of Airflow's FAB auth manager as a browser does, without following redirects itself:
GET <AIRFLOW_URL>/auth/login/<OIDC_PROVIDER> (Airflow sends the browser to the provider), the provider's authorization
endpoint (TLS checked against OIDC_CA; it sends the browser back with a code), then Airflow's callback (Airflow
exchanges the code, reads userinfo, logs the user in and sets the `_token` cookie). Prints each step as JSON.
Run with the Airflow venv's Python (requests), inside the test host's network namespace; the provider's host name
(OIDC_HOST) resolves to loopback, as the sandboxes' /etc/hosts has it.
"""
import json
import os
import socket
import urllib.parse

import requests

_getaddrinfo = socket.getaddrinfo
socket.getaddrinfo = lambda host, *a, **k: _getaddrinfo('127.0.0.1' if host == os.environ['OIDC_HOST'] else host, *a, **k)

api = os.environ['AIRFLOW_URL']
# FORWARDED_PROTO=https: as behind an ingress that terminates TLS, each request to Airflow says so (X-Forwarded-Proto)
# and the browser's https callback reaches Airflow as plain HTTP at AIRFLOW_URL
proto = os.environ.get('FORWARDED_PROTO')
forwarded = {'X-Forwarded-Proto': proto} if proto else {}
session = requests.Session()
steps = {}
response = session.get(f"{api}/auth/login/{os.environ['OIDC_PROVIDER']}", allow_redirects=False, headers=forwarded)
steps['login'] = {'status': response.status_code, 'location': response.headers.get('Location')}
if response.status_code == 302:
    response = session.get(response.headers['Location'], allow_redirects=False, verify=os.environ['OIDC_CA'])
    steps['authorize'] = {'status': response.status_code, 'location': response.headers.get('Location')}
    if response.status_code == 302:
        callback, airflow = urllib.parse.urlsplit(response.headers['Location']), urllib.parse.urlsplit(api)
        response = session.get(callback._replace(scheme=airflow.scheme, netloc=airflow.netloc).geturl(), allow_redirects=False, headers=forwarded)
        steps['callback'] = {'status': response.status_code, 'location': response.headers.get('Location'),
                             'body': response.text[-2000:] if response.status_code >= 400 else ''}
steps['token'] = session.cookies.get('_token')
print(json.dumps(steps))
