#!/usr/bin/env python3
"""How Airflow's own code reads each option: the `conf.get*` calls whose section and key are literals, or names and
attributes the same module assigns exactly one string to (`self.kubernetes_section = "kubernetes_executor"`).

config.yml types some options "string" that Airflow reads with `conf.getboolean` or `conf.getint` (`[core]
load_examples`, `[logging] worker_log_server_port`), and some "integer" that it reads with `conf.getfloat`
(`[scheduler] scheduler_heartbeat_sec`). What a value must look like is what the code that reads it accepts, so
the option reference records the readers found here (scripts/derive-airflow-options.ts turns them into a type).

    python3 scripts/reference/scan-option-reads.py WHEEL_OR_DIR... > reads.json

Reads the .py files of wheels (zip files, not installed, nothing imported) or of directories, with Python's ast.
Prints {"section.option": ["getboolean", ...]} with sections and options lower-cased as configparser and Airflow
treat them. Fails when a path does not exist or holds no Python file.
"""
import ast
import json
import os
import sys
import zipfile

READERS = {'getboolean', 'getint', 'getfloat'}


def sources(path):
    """(name, text) of every .py file in a wheel or under a directory."""
    if os.path.isdir(path):
        for folder, _dirs, files in os.walk(path):
            for name in files:
                if name.endswith('.py'):
                    full = os.path.join(folder, name)
                    with open(full, encoding='utf-8') as f:
                        yield full, f.read()
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as wheel:
            for name in wheel.namelist():
                if name.endswith('.py'):
                    yield name, wheel.read(name).decode('utf-8')
    else:
        sys.exit(f'scan-option-reads: {path} is neither a wheel nor a directory')


def target_name(node):
    """`x` for a name, `self.x` (any object) for an attribute, else None."""
    return node.id if isinstance(node, ast.Name) else f'.{node.attr}' if isinstance(node, ast.Attribute) else None


def string_constants(tree):
    """Names and attributes a module assigns one string to, and only one (`kubernetes_section = "kubernetes_executor"`)."""
    values = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                name = target_name(target)
                if name is not None:
                    value = node.value.value if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str) else None
                    values.setdefault(name, set()).add(value)
    return {name: next(iter(v)) for name, v in values.items() if len(v) == 1 and None not in v}


def literal(node, constants):
    """The string an argument stands for: a literal, or a name or attribute the module assigns one string to."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Attribute):  # self.x: assigned as self.x, or as x in the class body
        return constants.get(f'.{node.attr}', constants.get(node.attr))
    return constants.get(node.id) if isinstance(node, ast.Name) else None


def reads(paths):
    found = {}
    for path in paths:
        count = 0
        for name, text in sources(path):
            count += 1
            try:
                tree = ast.parse(text, filename=name)
            except SyntaxError as e:
                sys.exit(f'scan-option-reads: cannot parse {name}: {e}')
            constants = string_constants(tree)
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in READERS):
                    continue
                args = [literal(a, constants) for a in node.args[:2]]
                if len(args) == 2 and None not in args:
                    key = f'{args[0].lower()}.{args[1].lower()}'
                    found.setdefault(key, set()).add(node.func.attr)
        if count == 0:
            sys.exit(f'scan-option-reads: no Python file in {path}')
    return {key: sorted(found[key]) for key in sorted(found)}


if __name__ == '__main__':
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    json.dump(reads(sys.argv[1:]), sys.stdout, indent=1)
    sys.stdout.write('\n')
