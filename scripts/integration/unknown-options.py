# Prints, as a JSON list, every option this process's configuration sets that the installed Airflow does
# not know: the sections and options of $AIRFLOW_HOME/airflow.cfg and the AIRFLOW__<SECTION>__<OPTION>
# environment variables, against Airflow's own configuration description plus the configuration of
# every installed provider (what `airflow config list` draws on). Airflow itself ignores unknown options
# silently, so a typo would otherwise go unnoticed. Run inside a container's sandbox: python -c "$(cat ...)".
import configparser
import json
import os

from airflow.configuration import conf
from airflow.providers_manager import ProvidersManager

known = {section: set(spec.get("options", {})) for section, spec in conf.configuration_description.items()}
for _provider, sections in ProvidersManager().provider_configs:
    for section, spec in sections.items():
        known.setdefault(section, set()).update(spec.get("options", {}))

given = []
cfg = configparser.ConfigParser(interpolation=None)
cfg.read(os.path.join(os.environ["AIRFLOW_HOME"], "airflow.cfg"))
given += [(section, option) for section in cfg.sections() for option in cfg[section]]
for name in os.environ:
    if name.startswith("AIRFLOW__") and name.count("__") >= 2:
        section, option = name[len("AIRFLOW__"):].lower().split("__", 1)
        for suffix in ("_cmd", "_secret"):
            if option.endswith(suffix) and option[: -len(suffix)] in known.get(section, set()):
                option = option[: -len(suffix)]
        given.append((section, option))
print(json.dumps(sorted({f"[{s}] {o}" for s, o in given if o not in known.get(s, set())})))
