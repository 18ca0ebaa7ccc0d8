# The shared base of hopthu's Ansible modules (the ansible-freeipa pattern): arguments, connections,
# check mode, batching and errors live here; each module declares its own parameters and implements run().
#
# The modules are thin wrappers around the hopthu package, which must be importable by the interpreter the
# module runs with (ansible_python_interpreter: the virtualenv hopthu is installed in). A whole batch of
# requests is one module call: hopthu plans from one directory snapshot and writes in pipelined batches.

from __future__ import annotations

import abc
import dataclasses
import os
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import ClassVar

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from hopthu import pipeline
    from hopthu.audit import AuditError
    from hopthu.directory import DirectoryError, dn
    from hopthu.directory.applier import ApplyError
    from hopthu.directory.failover import Providers
    from hopthu.endpoints import Endpoint, EndpointError, load_endpoints, password_env_name
    from hopthu.inventory import InventoryError, inventory_dir
    from hopthu.mail import MailError
    from hopthu.passwords import KEY_ENV, Outbox, OutboxError, outbox_keys
    from hopthu.requests import REQUESTS_DIR, GitError
    from hopthu.statestore import StateStore, load_state_store

    HOPTHU_IMPORT_ERROR = None
    EXPECTED_ERRORS: tuple[type[Exception], ...] = (
        EndpointError,
        DirectoryError,
        ApplyError,
        AuditError,
        OutboxError,
        GitError,
        MailError,
    )
except ImportError:
    HOPTHU_IMPORT_ERROR = traceback.format_exc()
    EXPECTED_ERRORS = ()

# Where each organisation's directory is: one item per directory server of the inventory
# (hostvars[host].hopthu_directory). No secret in here: passwords come from bind_passwords, a password file
# outside the repository, or the environment (HOPTHU_BIND_PASSWORD_<ORG>). Several servers holding the
# same organisation are its providers (multi-provider replication), tried in the order of server_id.
SERVER_OPTIONS = dict(
    uri=dict(type="str", required=True),
    organisations=dict(type="list", elements="str", required=True),
    server_id=dict(type="int"),  # olcServerID of a provider (bootstrap.yml); the order they are tried in
    bind_dn=dict(type="str"),  # "{base_dn}" is replaced; default cn=admin,<base_dn>
    password_file=dict(type="str"),  # "{org}" is replaced
    service_password_file=dict(type="str"),  # for bootstrap.yml (the service identities), unused here
)

COMMON_ARGUMENTS = dict(
    inventory=dict(type="path", required=True),
    requests=dict(type="list", elements="path", default=[]),
)
AUDIT_LOG_ARGUMENT = dict(audit_log=dict(type="path", required=True))
DIRECTORY_ARGUMENTS = dict(
    directory_file=dict(type="path"),
    servers=dict(type="list", elements="dict", options=SERVER_OPTIONS, default=[]),
    bind_passwords=dict(type="dict", default={}, no_log=True),
    timeout=dict(type="int", default=10),
    state_org=dict(type="str"),
)
# The credentials outbox and its key (the vault's hopthu_outbox_key, else $HOPTHU_OUTBOX_KEY).
OUTBOX_ARGUMENTS = dict(
    outbox=dict(type="path", required=True),
    outbox_key=dict(type="str", no_log=True),
)


def finding_dict(finding) -> dict:
    return asdict(finding)


def finding_line(finding) -> str:
    return f"{finding.path}:{finding.line}:{finding.col}: {finding.message} [{finding.rule}]"


class HopthuModule(abc.ABC):
    """Subclasses set ``argument_spec`` (their own parameters), ``uses_directory``, ``uses_inventory`` and
    implement ``run``, which returns the result dict (``changed`` included) or raises one of hopthu's
    errors."""

    argument_spec: ClassVar[dict] = {}
    uses_directory = True
    # False for a module that runs where the repository is not (a mail server): no inventory argument,
    # and it runs in the directory it was started in.
    uses_inventory = True

    def __init__(self) -> None:
        spec = {
            **(COMMON_ARGUMENTS if self.uses_inventory else {}),
            **(DIRECTORY_ARGUMENTS if self.uses_directory else {}),
            **self.argument_spec,
        }
        self.module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
        self.params = self.module.params
        self.check_mode = self.module.check_mode
        self.diff_mode = self.module._diff
        self._session = None

    # --- where things are --------------------------------------------------------------------------

    @property
    def inventory_path(self) -> Path:
        return Path(self.params["inventory"])

    @property
    def repo_root(self) -> Path:
        """inventory/ and requests/ sit side by side in the repository."""
        return inventory_dir(self.inventory_path).resolve().parent

    @property
    def request_paths(self) -> list[Path]:
        return [Path(p) for p in self.params["requests"]] or [self.repo_root / REQUESTS_DIR]

    @property
    def audit_log(self) -> Path:
        return Path(self.params["audit_log"])

    # --- stages shared by the modules --------------------------------------------------------------

    def load(self):
        """Inventory and requests, validated (``pipeline.PipelineError`` with findings when not)."""
        return pipeline.load(self.inventory_path, self.request_paths)

    def session(self, inventory):
        if self._session is None:
            self._session = pipeline.Session(self.endpoints(inventory))
        return self._session

    def endpoints(self, inventory) -> dict:
        """Per organisation: URIs, bind DN and password, from a connections file or the inventory's servers
        (several servers holding one organisation are its providers, in the order of their server_id)."""
        if self.params.get("directory_file"):
            return load_endpoints(Path(self.params["directory_file"]))
        passwords = self.params["bind_passwords"] or {}
        endpoints = {}
        servers = sorted(self.params["servers"], key=lambda server: server.get("server_id") or 0)
        for server in servers:
            for code in server["organisations"]:
                org = inventory.organisations.get(code)
                if org is None:
                    raise EndpointError(
                        f"directory server {server['uri']} serves {code!r}, which is not an organisation of "
                        "the inventory (hopthu_organisations)"
                    )
                bind_dn = (server.get("bind_dn") or dn.admin_dn("{base_dn}")).replace(
                    "{base_dn}", org.base_dn
                )
                if code in endpoints:
                    known = endpoints[code]
                    endpoints[code] = dataclasses.replace(
                        known, other_uris=(*known.other_uris, server["uri"])
                    )
                    continue
                endpoints[code] = Endpoint(
                    code,
                    server["uri"],
                    bind_dn,
                    self._password(code, server, passwords),
                    timeout=self.params["timeout"],
                )
        return endpoints

    def state_store(self, inventory) -> StateStore | None:
        """The replicated copy of the pipeline's state: the connections file's ``state``, else the
        ``state_org`` parameter (the inventory's hopthu_state_org); None when neither names one."""
        if self.params.get("directory_file"):
            return load_state_store(Path(self.params["directory_file"]), inventory)
        code = self.params.get("state_org")
        if not code:
            return None
        endpoint = self.endpoints(inventory).get(code)
        if endpoint is None or code not in inventory.organisations:
            raise EndpointError(f"state_org {code!r}: no directory server holds that organisation")
        return StateStore(Providers(endpoint), inventory.organisations[code].base_dn)

    def outbox(self, mirror=None):
        """The credentials outbox, with the key of ``outbox_key`` (else the environment's)."""
        key = self.params.get("outbox_key")
        keys = outbox_keys({KEY_ENV: key}) if key else outbox_keys()
        return Outbox(self.params["outbox"], keys=keys, mirror=mirror)

    @staticmethod
    def _password(code: str, server: dict, passwords: dict) -> str:
        if passwords.get(code):
            return str(passwords[code])
        env_name = password_env_name(code)
        if os.environ.get(env_name):
            return os.environ[env_name]
        if server.get("password_file"):
            path = Path(server["password_file"].replace("{org}", code))
            try:
                return path.read_text(encoding="utf-8").strip()
            except OSError as error:
                raise EndpointError(
                    f"bind password file of {code}: cannot read {path} ({error.strerror})"
                ) from None
        raise EndpointError(
            f"no bind password for {code}: set hopthu_bind_passwords.{code} (ansible-vault), the environment "
            f"variable {env_name} (a protected, masked CI variable) or password_file of its directory server"
        )

    # --- running -------------------------------------------------------------------------------------

    @abc.abstractmethod
    def run(self) -> dict:
        """The module's own work: the result dict for exit_json."""

    def execute(self) -> None:
        if HOPTHU_IMPORT_ERROR is not None:
            self.module.fail_json(
                msg=missing_required_lib(
                    "hopthu", reason="install it into the interpreter the module runs with"
                ),
                exception=HOPTHU_IMPORT_ERROR,
            )
        try:
            # Relative paths in findings, and the cross-file checks of requests/, are from the repository
            # root; so is the commit the audit log records.
            if self.uses_inventory:
                os.chdir(self.repo_root)
            result = self.run()
        except pipeline.PipelineError as error:
            self.fail(str(error), error.findings)
        except InventoryError as error:
            self.fail(f"the inventory has problems: {len(error.findings)} finding(s)", error.findings)
        except EXPECTED_ERRORS as error:
            self.fail(str(error))
        finally:
            if self._session is not None:
                self._session.close()
        self.module.exit_json(**result)

    def fail(self, message: str, findings=(), **result) -> None:
        findings = list(findings)
        if findings:
            result["findings"] = [finding_dict(f) for f in findings]
            message += ":\n" + "\n".join(finding_line(f) for f in findings)
        self.module.fail_json(msg=message, **result)
