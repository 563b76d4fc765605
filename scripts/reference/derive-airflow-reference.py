#!/usr/bin/env python3
"""Derives scripts/reference/airflow-<version>-config.json, the Airflow configuration reference the library checks
options against, from the released wheels of exactly that version:

- apache-airflow-core: `airflow/config_templates/config.yml` (every core option, its type, whether it is sensitive)
  and the renamed options (`deprecated_options` in its Python code);
- every provider the official apache/airflow image ships: the providers the image's extras
  (scripts/reference/official-image-extras.json, copied from apache/airflow's Dockerfile) pull in through
  apache-airflow's own metadata, plus the providers apache-airflow and apache-airflow-core always require, and the
  providers those require; each provider's `config` from its `get_provider_info()`;
- how Airflow's code reads each option (scripts/reference/scan-option-reads.py over every wheel's code);
- the tables `airflow db clean` knows (`config_list` of apache-airflow-core's `airflow/utils/db_cleanup.py`), and
  which of them it skips while other rows still reference them (`skip_if_referenced`).

Provider versions: the official image pins them with the release's constraints file, which lives on a branch of
apache/airflow that is not reachable from here. As scripts/integration/lock-airflow.sh does, the newest release of
each provider uploaded before the day after apache-airflow <version>'s wheel reached PyPI is taken: what the
constraints chose that day, unless a provider was yanked or held back (then a patch release may differ).

    python3 scripts/reference/derive-airflow-reference.py 3.1.7

Needs python3 with PyYAML and packaging (Debian: python3-yaml python3-packaging) and https://pypi.org; caches
wheels in .cache/airflow-reference/ (git-ignored). Fails, naming what is missing, rather than skip anything.
"""
import ast
import datetime
import email.parser
import hashlib
import json
import os
import re
import sys
import urllib.request
import zipfile

try:
    import yaml
    from packaging.requirements import Requirement
    from packaging.version import Version
except ImportError as e:
    sys.exit(f'derive-airflow-reference: {e.name} is missing; install python3-yaml and python3-packaging (apt) or PyYAML and packaging (pip)')

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CACHE = os.path.join(ROOT, '.cache', 'airflow-reference')
sys.path.insert(0, HERE)
scan = __import__('scan-option-reads')


def simple(name):
    """PyPI's simple index of a project as JSON (PEP 691 and 700): its files with hashes and upload times."""
    req = urllib.request.Request(f'https://pypi.org/simple/{name}/', headers={'Accept': 'application/vnd.pypi.simple.v1+json'})
    with urllib.request.urlopen(req, timeout=60) as response:
        return json.load(response)['files']


def wheel_file(files, name, version):
    prefix = f"{name.replace('-', '_')}-{version}-"
    wheels = [f for f in files if f['filename'].startswith(prefix) and f['filename'].endswith('-py3-none-any.whl')]
    if not wheels:
        sys.exit(f'derive-airflow-reference: {name} {version} has no pure-Python wheel on PyPI')
    return wheels[0]


def download(name, version, files):
    """The wheel's path in the cache, its sha256 checked against PyPI's."""
    f = wheel_file(files, name, version)
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, f['filename'])
    if not os.path.exists(path):
        with urllib.request.urlopen(f['url'], timeout=300) as response, open(path + '.part', 'wb') as out:
            out.write(response.read())
        os.replace(path + '.part', path)
    with open(path, 'rb') as wheel:
        digest = hashlib.sha256(wheel.read()).hexdigest()
    if digest != f['hashes']['sha256']:
        os.remove(path)
        sys.exit(f'derive-airflow-reference: {f["filename"]}: sha256 {digest} is not PyPI\'s {f["hashes"]["sha256"]}')
    return path, f['filename'], digest


def requires_dist(path):
    """Requires-Dist of a wheel's METADATA."""
    metadata = read_wheel(path, lambda n: re.fullmatch(r'[^/]+\.dist-info/METADATA', n) is not None)
    if len(metadata) != 1:
        sys.exit(f'derive-airflow-reference: {path}: expected one METADATA file')
    return email.parser.Parser().parsestr(next(iter(metadata.values()))).get_all('Requires-Dist') or []


def newest_before(name, cutoff):
    """The newest final release of `name` with a wheel uploaded before `cutoff`, and the project's files."""
    files = simple(name)
    candidates = set()
    prefix = name.replace('-', '_') + '-'
    for f in files:
        m = re.fullmatch(re.escape(prefix) + r'([^-]+)-py3-none-any\.whl', f['filename'])
        if m and not f.get('yanked') and f['upload-time'] < cutoff and not Version(m.group(1)).is_prerelease:
            candidates.add(Version(m.group(1)))
    if not candidates:
        sys.exit(f'derive-airflow-reference: {name} has no wheel uploaded before {cutoff}')
    return str(max(candidates)), files


def providers_required(requires_dist, extras):
    """Names of the providers a requirement list pulls in without an extra, or through one of `extras`."""
    names = set()
    for line in requires_dist or []:
        req = Requirement(line)
        if not req.name.startswith('apache-airflow-providers-'):
            continue
        if req.marker is None or any(req.marker.evaluate({'extra': e, 'python_version': '3.12', 'sys_platform': 'linux',
                                                          'platform_machine': 'x86_64', 'implementation_name': 'cpython'})
                                     for e in extras or ['']):
            names.add(req.name)
    return names


def read_wheel(path, predicate):
    with zipfile.ZipFile(path) as wheel:
        return {n: wheel.read(n).decode('utf-8') for n in wheel.namelist() if predicate(n)}


def provider_config(path, name):
    files = read_wheel(path, lambda n: n.endswith('/get_provider_info.py'))
    if len(files) != 1:
        sys.exit(f'derive-airflow-reference: {name}: expected one get_provider_info.py, found {len(files)}')
    namespace = {}
    exec(compile(next(iter(files.values())), name, 'exec'), namespace)  # a module of one function returning a dict
    return namespace['get_provider_info']().get('config', {})


def deprecated_options(path):
    """`deprecated_options` of the core wheel's code: {(section, key): (old_section, old_key, since)}."""
    found = {}
    for name, text in read_wheel(path, lambda n: n.endswith('.py')).items():
        for node in ast.walk(ast.parse(text, filename=name)):
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0] if isinstance(node, ast.Assign) else None
            if isinstance(target, ast.Name) and target.id == 'deprecated_options' and isinstance(node.value, ast.Dict):
                found.update(ast.literal_eval(node.value))
    if not found:
        sys.exit('derive-airflow-reference: no deprecated_options in apache-airflow-core')
    return found


def db_clean_tables(path):
    """`config_list` of the core wheel's utils/db_cleanup.py: {table: {'skipIfReferenced': bool}}, in its order."""
    text = read_wheel(path, lambda n: n == 'airflow/utils/db_cleanup.py')
    if not text:
        sys.exit('derive-airflow-reference: apache-airflow-core has no airflow/utils/db_cleanup.py')
    tables = {}
    for node in ast.walk(ast.parse(next(iter(text.values())))):
        target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0] if isinstance(node, ast.Assign) else None
        if isinstance(target, ast.Name) and target.id == 'config_list' and isinstance(node.value, ast.List):
            for call in node.value.elts:
                kw = {k.arg: k.value for k in call.keywords}
                tables[ast.literal_eval(kw['table_name'])] = {'skipIfReferenced': 'skip_if_referenced' in kw}
    if not tables:
        sys.exit('derive-airflow-reference: no config_list in airflow/utils/db_cleanup.py')
    return tables


def options(config, source):
    sections = {}
    for section, body in sorted(config.items()):
        for option, o in sorted((body.get('options') or {}).items()):
            entry = {'type': o.get('type', 'string'), 'from': source}
            if o.get('sensitive'):
                entry['sensitive'] = True
            if o.get('default') is not None:
                entry['default'] = str(o['default'])
            sections.setdefault(section, {})[option] = entry
    return sections


def main(version):
    airflow_files = simple('apache-airflow')
    uploaded = wheel_file(airflow_files, 'apache-airflow', version)['upload-time']
    cutoff = (datetime.date.fromisoformat(uploaded[:10]) + datetime.timedelta(days=1)).isoformat()
    with open(os.path.join(HERE, 'official-image-extras.json')) as f:
        extras = json.load(f)['extras']

    airflow_path, _f, _s = download('apache-airflow', version, airflow_files)
    core_path, core_file, core_sha = download('apache-airflow-core', version, simple('apache-airflow-core'))
    wheels = [(core_path, 'apache-airflow-core', version, core_file, core_sha)]

    wanted = providers_required(requires_dist(airflow_path), extras) | providers_required(requires_dist(core_path), [])
    chosen = {}
    while wanted:
        name = wanted.pop()
        if name in chosen:
            continue
        v, files = newest_before(name, cutoff)
        path, filename, sha = download(name, v, files)
        chosen[name] = (path, v, filename, sha)
        wanted |= providers_required(requires_dist(path), []) - set(chosen)
    for name in sorted(chosen):
        path, v, filename, sha = chosen[name]
        wheels.append((path, name, v, filename, sha))

    config_yml = read_wheel(core_path, lambda n: n == 'airflow/config_templates/config.yml')
    if not config_yml:
        sys.exit('derive-airflow-reference: apache-airflow-core has no airflow/config_templates/config.yml')
    sections = options(yaml.safe_load(next(iter(config_yml.values()))), 'core')
    for path, name, v, _f, _s in wheels[1:]:
        for section, opts in options(provider_config(path, name), f'{name} {v}').items():
            for option, entry in opts.items():
                sections.setdefault(section, {}).setdefault(option, entry)

    reads = scan.reads([w[0] for w in wheels])
    for key, readers in reads.items():
        section, option = key.split('.', 1)
        if option in sections.get(section, {}):
            sections[section][option]['readAs'] = readers

    renamed = {}
    for (section, key), (old_section, old_key, since) in sorted(deprecated_options(core_path).items()):
        renamed[f'{old_section}.{old_key}'] = {'replacedBy': f'{section}.{key}', 'since': since}

    return {
        'source': {
            'derivedBy': 'scripts/reference/derive-airflow-reference.py',
            'pypiCutoff': cutoff,
            'wheels': [{'file': f, 'sha256': s} for _p, _n, _v, f, s in wheels],
        },
        'airflowVersion': version,
        'providers': {name: v for _p, name, v, _f, _s in wheels[1:]},
        'sections': {s: dict(sorted(o.items())) for s, o in sorted(sections.items())},
        'deprecatedOptions': dict(sorted(renamed.items())),
        'dbCleanTables': db_clean_tables(core_path),
    }


if __name__ == '__main__':
    if len(sys.argv) != 2 or not re.fullmatch(r'\d+\.\d+\.\d+', sys.argv[1]):
        sys.exit('usage: derive-airflow-reference.py X.Y.Z')
    out = os.path.join(HERE, f'airflow-{sys.argv[1]}-config.json')
    with open(out, 'w') as f:
        json.dump(main(sys.argv[1]), f, indent=1, sort_keys=False)
        f.write('\n')
    print(out)
