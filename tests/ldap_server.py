"""A real OpenLDAP server for the tests: Debian's slapd started from a temporary directory on a free port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
SUFFIX = "dc=tjca,dc=example"
ROOT_DN = f"cn=admin,{SUFFIX}"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
REGULATORS = f"cn=v6beian-regulators,{GROUPS}"
ADMINS = f"cn=v6beian-admins,{GROUPS}"
SERVICE_DN = f"cn=v6beian-service,{SUFFIX}"

# (uid, display name, password, groups)
PEOPLE_ENTRIES = [
    ("alice", "审核员 爱丽丝", "alice-directory-pw", [REGULATORS]),
    ("bob", "管理员 鲍勃", "bob-directory-pw", [ADMINS]),
    ("carol", "未授权 卡罗尔", "carol-directory-pw", []),
    ("张三", "张三", "zhangsan-directory-pw", [REGULATORS]),
]


class SlapdUnavailable(RuntimeError):
    pass


@dataclass
class Directory:
    url: str
    root_password: str
    service_password: str
    process: subprocess.Popen[bytes]
    workdir: Path

    def settings(self, **overrides: object) -> dict[str, object]:
        config: dict[str, object] = {
            "LDAP_URL": self.url,
            "LDAP_BIND_DN": SERVICE_DN,
            "LDAP_BIND_PASSWORD": self.service_password,
            "LDAP_USER_BASE": PEOPLE,
            "LDAP_USER_FILTER": "(uid={username})",
            "LDAP_GROUP_REGULATOR": REGULATORS,
            "LDAP_GROUP_ADMIN": ADMINS,
            "LDAP_ORG": "tjca",
            "LDAP_TIMEOUT": 3,
        }
        config.update(overrides)
        return config

    def modify(self, dn: str, changes: dict[str, list[tuple[str, list[str]]]]) -> None:
        from ldap3 import Connection, Server

        with Connection(Server(self.url), ROOT_DN, self.root_password, auto_bind=True) as conn:
            assert conn.modify(dn, changes), conn.result

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed_ldif(root_password: str, service_password: str) -> str:
    blocks = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Tianjin CA (test)\ndc: tjca",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups",
        f"dn: {SERVICE_DN}\nobjectClass: simpleSecurityObject\nobjectClass: organizationalRole\ncn: v6beian-service\n"
        f"userPassword: {service_password}",
    ]
    members: dict[str, list[str]] = {REGULATORS: [], ADMINS: []}
    for uid, name, password, groups in PEOPLE_ENTRIES:
        dn = f"uid={uid},{PEOPLE}"
        lines = [f"dn:: {_b64(dn)}" if not uid.isascii() else f"dn: {dn}",
                 "objectClass: inetOrgPerson", f"uid:: {_b64(uid)}", f"cn:: {_b64(name)}", f"sn:: {_b64(name)}",
                 f"mail: {'zhangsan' if not uid.isascii() else uid}@tjca.example", f"userPassword: {password}"]  # fmt: skip
        lines += [f"memberOf: {group}" for group in groups]
        blocks.append("\n".join(lines))
        for group in groups:
            members[group].append(dn)
    for group, dns in members.items():
        cn = group.split(",")[0].split("=")[1]
        # groupOfNames needs a member; the root DN keeps a group valid when the tests empty it of people.
        member_lines = "\n".join([f"member: {ROOT_DN}", *(f"member:: {_b64(dn)}" for dn in dns)])
        blocks.append(f"dn: {group}\nobjectClass: groupOfNames\ncn: {cn}\n{member_lines}")
    return "\n\n".join(blocks) + "\n"


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def start_directory(workdir: Path) -> Directory:
    """Start slapd (fails loudly when it cannot: the LDAP tests never skip)."""
    if not Path(SLAPD).exists():
        raise SlapdUnavailable(f"{SLAPD} is missing: install Debian's slapd and ldap-utils (make test does, as root)")
    import secrets

    root_password, service_password = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    data = workdir / "data"
    data.mkdir(parents=True)
    config = workdir / "slapd.conf"
    config.write_text(
        "\n".join(
            [
                *(f"include {SCHEMA_DIR / name}.schema" for name in ("core", "cosine", "inetorgperson", "nis")),
                f"modulepath {MODULE_DIR}",
                "moduleload back_mdb",
                "moduleload memberof",
                f"pidfile {workdir / 'slapd.pid'}",
                f"argsfile {workdir / 'slapd.args'}",
                "database mdb",
                "maxsize 67108864",
                f'suffix "{SUFFIX}"',
                f'rootdn "{ROOT_DN}"',
                f"rootpw {root_password}",
                f"directory {data}",
                "overlay memberof",
                "memberof-group-oc groupOfNames",
                "memberof-member-ad member",
                "memberof-memberof-ad memberOf",
                "memberof-refint true",
                "access to attrs=userPassword by anonymous auth by self write by * none",
                "access to * by dn.exact=" + f'"{SERVICE_DN}" read by self read by anonymous auth by * none',
            ]
        )
        + "\n"
    )
    ldif = workdir / "seed.ldif"
    ldif.write_text(seed_ldif(root_password, service_password), encoding="utf-8")
    loaded = subprocess.run([SLAPADD, "-f", str(config), "-l", str(ldif)], capture_output=True, text=True, check=False)
    if loaded.returncode != 0:
        raise SlapdUnavailable(f"slapadd failed: {loaded.stderr.strip()}")
    port = free_port()
    url = f"ldap://127.0.0.1:{port}/"
    process = subprocess.Popen(
        [SLAPD, "-f", str(config), "-h", url, "-d", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SlapdUnavailable(f"slapd exited: {process.stderr.read().decode(errors='replace')[-500:]}")  # type: ignore[union-attr]
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return Directory(url.rstrip("/"), root_password, service_password, process, workdir)
        time.sleep(0.1)
    process.kill()
    raise SlapdUnavailable("slapd did not start listening within 15 s")


def main() -> None:
    """``make ldap-demo``: a local directory with the demo regulator staff, until Ctrl-C."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="v6beian-ldap-") as tmp:
        directory = start_directory(Path(tmp))
        try:
            print("A demo directory is running. Start v6beian against it in another terminal:\n")
            settings = " ".join(f"{k}='{v}'" for k, v in directory.settings().items())
            print(f"  {settings} make run\n")
            print("Directory accounts (username / password / role):")
            for uid, _name, password, groups in PEOPLE_ENTRIES:
                role = "regulator-admin" if ADMINS in groups else "regulator" if groups else "(no group: refused)"
                print(f"  {uid:8} {password:24} {role}")
            print("\nCtrl-C stops the directory.")
            directory.process.wait()
        except KeyboardInterrupt:
            pass
        finally:
            directory.stop()


if __name__ == "__main__":
    main()
