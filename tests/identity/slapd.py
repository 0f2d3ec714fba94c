"""A real OpenLDAP server (Debian's slapd) with an Active Directory-like tree, for the identity
tests: installed with apt when missing, run as a child process on 127.0.0.1:18389 with its
configuration and database in a temporary directory, stopped afterwards.

The tree imitates Active Directory where the portal looks: people carry sAMAccountName,
userPrincipalName, userAccountControl (bit 2 = disabled, matched with AD's bitwise rule
1.2.840.113556.1.4.803, which slapd implements too) and department, in an auxiliary class
`user` with AD's attribute OIDs; groups are objectClass `group` with `member` (nested groups
are groups in groups) and the memberof overlay keeps `memberOf` on the members, as AD does.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PORT = int(os.environ.get("MOF_TEST_SLAPD_PORT", "18389"))
URI = f"ldap://127.0.0.1:{PORT}/"
SUFFIX = "dc=corp,dc=example"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "slapd-root-secret"
BIND_DN = f"CN=svc-portal,OU=Service Accounts,{SUFFIX}"
BIND_PASSWORD = "svc-portal-secret"
USERS = f"OU=People,{SUFFIX}"
GROUPS = f"OU=Groups,{SUFFIX}"
PASSWORDS = {
    "alice": "Alice-directory-pw1",
    "bob": "Bob-directory-pw1",
    "carol": "Carol-directory-pw1",
    "dave": "Dave-directory-pw1",
}

AD_SCHEMA = """
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.656 NAME 'userPrincipalName'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.2.141 NAME 'department'
  EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.2.840.113556.1.5.9 NAME 'user' SUP top AUXILIARY
  MAY ( sAMAccountName $ userPrincipalName $ userAccountControl $ department ) )
objectclass ( 1.2.840.113556.1.5.8 NAME 'group' SUP top STRUCTURAL
  MUST cn MAY ( member $ sAMAccountName $ description ) )
"""

CONFIG = """
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include {dir}/ad.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile {dir}/slapd.pid
TLSCACertificateFile {dir}/ca.pem
TLSCertificateFile {dir}/server.pem
TLSCertificateKeyFile {dir}/server.key
database mdb
maxsize 67108864
suffix "{suffix}"
rootdn "{rootdn}"
rootpw {rootpw}
directory {dir}/data
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by * none
overlay memberof
memberof-group-oc group
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint true
"""


def ssha(password: str) -> str:
    salt = os.urandom(8)
    return "{SSHA}" + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()


def person(uid, given, sn, *, uac=512, department="", manager="", phone=""):
    attrs = {
        "objectClass": [b"inetOrgPerson", b"user"],
        "cn": [f"{given} {sn}".encode()],
        "givenName": [given.encode()],
        "sn": [sn.encode()],
        "mail": [f"{uid}@corp.example".encode()],
        "sAMAccountName": [uid.encode()],
        "userPrincipalName": [f"{uid}@corp.example".encode()],
        "userAccountControl": [str(uac).encode()],
        "userPassword": [ssha(PASSWORDS[uid]).encode()],
    }
    if department:
        attrs["department"] = [department.encode()]
    if manager:
        attrs["manager"] = [manager.encode()]
    if phone:
        attrs["telephoneNumber"] = [phone.encode()]
    return f"CN={given} {sn},{USERS}", attrs


def user_dn(uid: str) -> str:
    return {
        "alice": f"CN=Alice Archer,{USERS}",
        "bob": f"CN=Bob Baker,{USERS}",
        "carol": f"CN=Carol Cole,{USERS}",
        "dave": f"CN=Dave Disabled,{USERS}",
    }[uid]


def group(name, members):
    return f"CN={name},{GROUPS}", {
        "objectClass": [b"group"],
        "cn": [name.encode()],
        "member": [m.encode() for m in members],
    }


def tree():
    """Alice is in Service Desk L1, itself a member of Portal Support (nested); Bob in Portal
    Managers; Carol in no mapped group; Dave is disabled (userAccountControl 514)."""
    return [
        (SUFFIX, {"objectClass": [b"dcObject", b"organization"], "dc": [b"corp"], "o": [b"Corp"]}),
        (USERS, {"objectClass": [b"organizationalUnit"], "ou": [b"People"]}),
        (GROUPS, {"objectClass": [b"organizationalUnit"], "ou": [b"Groups"]}),
        (f"OU=Service Accounts,{SUFFIX}", {"objectClass": [b"organizationalUnit"], "ou": [b"Service Accounts"]}),
        (
            BIND_DN,
            {
                "objectClass": [b"inetOrgPerson"],
                "cn": [b"svc-portal"],
                "sn": [b"svc"],
                "userPassword": [ssha(BIND_PASSWORD).encode()],
            },
        ),
        person("bob", "Bob", "Baker", department="IT Operations", phone="+44 20 7946 0001"),
        person("alice", "Alice", "Archer", department="Service Desk", manager=user_dn("bob"), phone="+44 20 7946 0002"),
        person("carol", "Carol", "Cole", department="Finance"),
        person("dave", "Dave", "Disabled", uac=514, department="Service Desk"),
        group("Service Desk L1", [user_dn("alice"), user_dn("dave")]),
        group("Portal Support", [f"CN=Service Desk L1,{GROUPS}"]),
        group("Portal Managers", [user_dn("bob")]),
    ]


def write_certificates(directory: Path):
    """A throwaway CA and a server certificate for 127.0.0.1 (StartTLS); ca.pem is what the
    portal is told to trust (LDAP_CA_CERT_FILE)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "MOF test directory CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )


def ensure_installed():
    if shutil.which("slapd") or os.path.exists("/usr/sbin/slapd"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "slapd", "ldap-utils"], check=True, env=env, stdout=subprocess.DEVNULL
    )


class Slapd:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="mof-slapd-"))
        self.process = None

    def start(self):
        ensure_installed()
        (self.dir / "data").mkdir()
        (self.dir / "ad.schema").write_text(AD_SCHEMA)
        write_certificates(self.dir)
        conf = self.dir / "slapd.conf"
        conf.write_text(CONFIG.format(dir=self.dir, suffix=SUFFIX, rootdn=ROOT_DN, rootpw=ROOT_PASSWORD))
        test = subprocess.run(
            [shutil.which("slapd") or "/usr/sbin/slapd", "-Tt", "-u", "-f", str(conf)], capture_output=True, text=True
        )
        if test.returncode:
            raise RuntimeError(f"slapd configuration refused: {test.stderr}")
        slapd = "/usr/sbin/slapd" if os.path.exists("/usr/sbin/slapd") else shutil.which("slapd")
        # -d 0: stay in the foreground, as our child; killed in stop().
        self.log = open(self.dir / "slapd.log", "w")
        self.process = subprocess.Popen(
            [slapd, "-d", "0", "-h", URI, "-f", str(conf)], stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", PORT), timeout=0.5).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"slapd did not start: {(self.dir / 'slapd.log').read_text()}") from None
                time.sleep(0.1)
        self.load()
        return self

    def admin(self):
        import ldap

        conn = ldap.initialize(URI)
        conn.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
        return conn

    def load(self):
        import ldap.modlist

        conn = self.admin()
        for dn, attrs in tree():
            conn.add_s(dn, ldap.modlist.addModlist(attrs))
        conn.unbind_s()

    def reset(self):
        """Back to the tree above (tests change memberships and accounts)."""
        import ldap

        conn = self.admin()
        entries = conn.search_s(SUFFIX, ldap.SCOPE_SUBTREE, "(objectClass=*)", ["1.1"])
        for dn, _ in sorted(entries, key=lambda e: -len(e[0])):
            conn.delete_s(dn)
        conn.unbind_s()
        self.load()

    def modify(self, dn, changes):
        conn = self.admin()
        conn.modify_s(dn, changes)
        conn.unbind_s()

    def delete(self, dn):
        conn = self.admin()
        conn.delete_s(dn)
        conn.unbind_s()

    def add(self, dn, attrs):
        import ldap.modlist

        conn = self.admin()
        conn.add_s(dn, ldap.modlist.addModlist(attrs))
        conn.unbind_s()

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def ca_file(self) -> str:
        return str(self.dir / "ca.pem")

    def env(self, **extra) -> dict:
        """The environment a deployment would set for this directory (mof.identity.config)."""
        return {
            "LDAP_SERVER_URI": URI,
            "LDAP_BIND_DN": BIND_DN,
            "LDAP_BIND_PASSWORD": BIND_PASSWORD,
            "LDAP_USER_BASE": USERS,
            "LDAP_GROUP_BASE": GROUPS,
            # Active Directory's objectCategory does not exist here; everything else is AD's default.
            "LDAP_SYNC_FILTER": "(objectClass=user)",
            **extra,
        }
