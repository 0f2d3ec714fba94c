"""Generate a large, realistic CMDB for the benchmark, fast.

    python bench/generate.py --cis 100000 --relationships 400000 [--seed 42]

BENCH DATA IS NOT BUSINESS DATA. It is bulk-loaded with PostgreSQL COPY straight into the
CMDB tables: no model save(), no audit rows, no transitions. Run it only against a
dedicated benchmark database: it TRUNCATEs the CMDB tables (CASCADE) first.

Shape (per site; six sites of unequal size, lon1 the largest):

    core routers (2)  <- distribution routers, edge firewalls        connects_to
    distribution routers <- switches (some behind a firewall)        connects_to
    switches <- physical servers, storage arrays                     connects_to
    physical servers <- VMs (hosted_by); storage <- VMs (depends_on)
    VMs <- databases, directory services, mailbox servers, apps      runs_on
    databases, directory, mailbox, other apps <- apps                depends_on / connects_to
    ~200 services <- application-tier CIs (the services M2M)

Edges point from the dependent to its dependency ("app runs_on vm"), so everything in a
site is downstream of its core routers. Apps come in clusters (application systems) with
depends_on chains and reciprocal connects_to pairs (cycles, as in real CMDBs), and a few
cross-site links (DR replication, integrations). Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SITES = [("lon1", 0.25), ("fra1", 0.20), ("ams1", 0.20), ("nyc1", 0.15), ("sin1", 0.10), ("syd1", 0.10)]
ENVIRONMENTS = [("production", 80), ("staging", 7), ("test", 6), ("development", 5), ("dr", 2)]
STATUSES = [("in_service", 92), ("planned", 5), ("retired", 3)]
NULL = "\\N"  # COPY's NULL marker (an empty CSV field is an empty string)
BASE_TIME = datetime(2026, 11, 1, tzinfo=timezone.utc)

SERVICE_WORDS = [
    "Payroll",
    "E-mail",
    "CRM",
    "Intranet",
    "Web shop",
    "Billing",
    "HR portal",
    "Data warehouse",
    "Telephony",
    "VPN",
    "Identity",
    "Print",
    "File sharing",
    "Backup",
    "Monitoring",
    "Ticketing",
    "Logistics",
    "Procurement",
    "Finance ledger",
    "Reporting",
    "Document management",
    "Video conferencing",
    "Customer portal",
    "Partner extranet",
    "Mobile app backend",
    "Search",
    "Analytics",
    "Inventory",
    "Scheduling",
    "Time tracking",
    "Expenses",
    "Learning",
    "Recruitment",
    "Contracts",
    "Treasury",
    "Point of sale",
    "Loyalty",
    "Fleet",
    "Maintenance",
    "Quality",
]
SERVICE_SUFFIXES = ["", " EU", " US", " APAC", " Internal", " External"]
VENDORS = {
    "network-device": ["Cisco", "Juniper", "Arista"],
    "firewall": ["Palo Alto", "Fortinet", "Check Point"],
    "server": ["Dell", "HPE", "Lenovo"],
    "storage": ["NetApp", "Pure Storage", "Dell EMC"],
    "virtual-machine": ["VMware", "Hyper-V", "KVM"],
    "database": ["PostgreSQL", "SQL Server", "Oracle"],
    "directory-service": ["Active Directory", "OpenLDAP"],
    "mailbox-server": ["Exchange"],
    "application": ["Java", "Python", ".NET", "Node.js", "Go"],
}

TABLES = ("mof_cirelationship", "mof_configurationitem_services", "mof_configurationitem", "mof_service")


def setup_django():
    """Configure Django for a script run from anywhere (settings from the environment)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mof.settings")
    os.environ.setdefault("DEBUG", "1")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _weighted(rng, pairs):
    values = [v for v, _ in pairs]
    weights = [w for _, w in pairs]
    return lambda: rng.choices(values, weights)[0]


class Builder:
    def __init__(self, n_cis: int, n_rels: int, seed: int, class_ids: dict[str, int], owner_ids: list[int]):
        self.n_cis = n_cis
        self.n_rels = n_rels
        self.rng = random.Random(seed)
        self.class_ids = class_ids
        self.owner_ids = owner_ids
        self.cis: list[tuple] = []
        self.edges: list[tuple[int, int, str]] = []
        self.edge_set: set[tuple[int, int, str]] = set()
        self.sites: dict[str, dict[str, list[int]]] = {}
        self.clusters: list[tuple[str, list[int]]] = []
        self.env = _weighted(self.rng, ENVIRONMENTS)
        self.status = _weighted(self.rng, STATUSES)

    # --- CIs ---------------------------------------------------------------------
    def ci(self, site: str, kind: str, slug: str, number: int, role: str) -> int:
        rng = self.rng
        pk = len(self.cis) + 1
        name = f"{site}-{kind}-{number:05d}" if kind not in ("core-rtr",) else f"{site}-{kind}-{number:02d}"
        status = self.status() if role not in ("core-router", "distribution-router") else "in_service"
        environment = "production" if role in ("core-router", "distribution-router", "edge-firewall") else self.env()
        attrs = {"site": site, "role": role, "vendor": rng.choice(VENDORS[slug])}
        if slug in ("network-device", "firewall", "server", "virtual-machine", "storage"):
            attrs["ip"] = f"10.{(pk >> 16) & 255}.{(pk >> 8) & 255}.{pk & 255}"
        if slug in ("server", "virtual-machine"):
            attrs["cpus"] = rng.choice((2, 4, 8, 16, 32))
            attrs["memory_gb"] = rng.choice((4, 8, 16, 32, 64, 128))
        created = BASE_TIME - timedelta(days=rng.randint(30, 1500), seconds=rng.randint(0, 86399))
        updated = created + timedelta(days=rng.randint(0, 29))
        owner = rng.choice(self.owner_ids) if self.owner_ids and rng.random() < 0.8 else None
        self.cis.append(
            (
                pk,
                name,
                status,
                environment,
                json.dumps(attrs, separators=(",", ":")),
                f"{role.replace('-', ' ').capitalize()} {name} at {site} (benchmark data)",
                "Decommissioned (benchmark data)" if status == "retired" else "",
                created.isoformat(),
                updated.isoformat(),
                self.class_ids[slug],
                NULL if owner is None else owner,
            )
        )
        return pk

    # --- edges -------------------------------------------------------------------
    def edge(self, source: int, target: int, rel_type: str) -> bool:
        if source == target:
            return False
        key = (source, target, rel_type)
        if key in self.edge_set:
            return False
        self.edge_set.add(key)
        self.edges.append(key)
        return True

    def build(self, log):
        rng = self.rng
        remaining = self.n_cis
        for index, (site, weight) in enumerate(SITES):
            n = remaining if index == len(SITES) - 1 else round(self.n_cis * weight)
            remaining -= n
            self._site(site, n)
        log(f"  {len(self.cis):,} CIs in {len(SITES)} sites, {len(self.clusters):,} application clusters")
        structural = len(self.edges)
        log(f"  {structural:,} structural relationships (network, hosting, runs_on, depends_on)")
        if structural > self.n_rels:
            log(f"  WARNING: {self.n_rels:,} relationships requested, fewer than the structure needs; sampling")
            keep = sorted(rng.sample(range(structural), self.n_rels))
            self.edges = [self.edges[i] for i in keep]
            self.edge_set = set(self.edges)
            return
        self._extra_edges()

    def _site(self, site: str, n: int):
        counts = {
            "core": 2,
            "dist": max(2, n // 2500),
            "fw": max(2, n // 5000),
            "switch": max(4, n // 100),
            "storage": max(2, n // 500),
            "server": max(4, n * 8 // 100),
            "vm": max(8, n * 38 // 100),
            "db": max(4, n * 8 // 100),
            "dir": max(2, n // 200),
            "mbx": max(2, n * 15 // 1000),
        }
        counts["app"] = n - sum(counts.values())
        if counts["app"] < 10:
            raise SystemExit(f"Too few CIs for site {site}: ask for at least 1,000 CIs in all.")
        spec = {
            "core": ("core-rtr", "network-device", "core-router"),
            "dist": ("dist-rtr", "network-device", "distribution-router"),
            "fw": ("fw", "firewall", "edge-firewall"),
            "switch": ("sw", "network-device", "switch"),
            "storage": ("san", "storage", "storage-array"),
            "server": ("esx", "server", "hypervisor-host"),
            "vm": ("vm", "virtual-machine", "virtual-machine"),
            "db": ("db", "database", "database"),
            "dir": ("dc", "directory-service", "directory-service"),
            "mbx": ("mbx", "mailbox-server", "mailbox-server"),
            "app": ("app", "application", "application"),
        }
        ids = {}
        for key, (kind, slug, role) in spec.items():
            ids[key] = [self.ci(site, kind, slug, i + 1, role) for i in range(counts[key])]
        self.sites[site] = ids
        rng, e = self.rng, self.edge
        # Network: every distribution router and edge firewall uplinks to both core routers.
        for pk in ids["dist"] + ids["fw"]:
            for core in ids["core"]:
                e(pk, core, "connects_to")
        for pk in ids["switch"]:
            for dist in rng.sample(ids["dist"], 2):
                e(pk, dist, "connects_to")
            if rng.random() < 0.1:  # DMZ switches sit behind a firewall
                e(pk, rng.choice(ids["fw"]), "connects_to")
        for pk in ids["server"] + ids["storage"]:
            for switch in rng.sample(ids["switch"], 2):
                e(pk, switch, "connects_to")
        # Compute and storage.
        for pk in ids["vm"]:
            e(pk, rng.choice(ids["server"]), "hosted_by")
            e(pk, rng.choice(ids["storage"]), "depends_on")
        for pk in ids["db"]:
            host = rng.choice(ids["vm"]) if rng.random() < 0.85 else rng.choice(ids["server"])
            e(pk, host, "runs_on")
            e(pk, rng.choice(ids["storage"]), "depends_on")
        for pk in ids["dir"]:
            e(pk, rng.choice(ids["vm"]), "runs_on")
        for pk in ids["mbx"]:
            e(pk, rng.choice(ids["vm"]), "runs_on")
            e(pk, rng.choice(ids["dir"]), "depends_on")
            e(pk, rng.choice(ids["storage"]), "depends_on")
        # Applications, in clusters (application systems) of 5-30 CIs.
        apps = ids["app"]
        start = 0
        while start < len(apps):
            size = rng.randint(5, 30)
            cluster = apps[start : start + size]
            start += size
            self.clusters.append((site, cluster))
            cluster_dbs = rng.sample(ids["db"], min(len(ids["db"]), rng.randint(1, 3)))
            for pk in cluster:
                e(pk, rng.choice(ids["vm"]), "runs_on")
                e(pk, rng.choice(cluster_dbs), "depends_on")
                e(pk, rng.choice(ids["dir"]), "depends_on")

    def _extra_edges(self):
        """Top up to the requested number: app chains, cycles, more databases, a few cross-site links."""
        rng, e = self.rng, self.edge
        clusters = self.clusters
        site_names = list(self.sites)
        kinds = [("chain", 52), ("cycle", 10), ("db", 18), ("mailbox", 8), ("storage", 11.6), ("cross", 0.4)]
        pick = _weighted(rng, kinds)
        attempts = 0
        while len(self.edges) < self.n_rels:
            attempts += 1
            if attempts > self.n_rels * 20:
                raise SystemExit("Could not place that many distinct relationships: ask for fewer, or more CIs.")
            kind = pick()
            site, cluster = rng.choice(clusters)
            ids = self.sites[site]
            if kind == "chain":  # front ends depend on back ends of the same system (a DAG)
                if len(cluster) < 2:
                    continue
                i, j = sorted(rng.sample(range(len(cluster)), 2))
                e(cluster[j], cluster[i], "depends_on")
            elif kind == "cycle":  # two services of a system talk to each other: a 2-cycle
                if len(cluster) < 2:
                    continue
                a, b = rng.sample(cluster, 2)
                if e(a, b, "connects_to") and len(self.edges) < self.n_rels:
                    e(b, a, "connects_to")
            elif kind == "db":
                e(rng.choice(cluster), rng.choice(ids["db"]), "depends_on")
            elif kind == "mailbox":
                e(rng.choice(cluster), rng.choice(ids["mbx"]), "depends_on")
            elif kind == "storage":
                e(rng.choice(ids["vm"]), rng.choice(ids["storage"]), "depends_on")
            else:  # DR replication or an integration with another site
                other = self.sites[rng.choice([s for s in site_names if s != site])]
                if rng.random() < 0.5:
                    e(rng.choice(ids["db"]), rng.choice(other["db"]), "connects_to")
                else:
                    e(rng.choice(cluster), rng.choice(other["app"]), "connects_to")

    # --- services ----------------------------------------------------------------
    def services(self) -> tuple[list[tuple], list[tuple[int, int]]]:
        rng = self.rng
        count = max(20, round(200 * self.n_cis / 100_000))
        names = [w + s for s in SERVICE_SUFFIXES for w in SERVICE_WORDS]
        while len(names) < count:
            names.append(f"Business service {len(names) + 1:04d}")
        names = names[:count]
        criticality = _weighted(rng, [("critical", 10), ("high", 30), ("medium", 40), ("low", 20)])
        weights = [w for _, w in SITES]
        rows, links = [], set()
        for index, name in enumerate(names):
            pk = index + 1
            created = (BASE_TIME - timedelta(days=rng.randint(100, 2000))).isoformat()
            hours = rng.choice(("24x7", "24x7", "Mon-Fri 08:00-18:00", "Mon-Sat 07:00-22:00"))
            owner = rng.choice(self.owner_ids) if self.owner_ids else NULL
            rows.append((pk, name, criticality(), hours, f"{name} (benchmark data)", created, created, owner))
            site = rng.choices([s for s, _ in SITES], weights)[0]
            ids = self.sites[site]
            site_clusters = [c for s, c in self.clusters if s == site]
            for cluster in rng.sample(site_clusters, min(len(site_clusters), rng.randint(1, 2))):
                for app in cluster[-rng.randint(1, 3) :]:  # the system's front ends
                    links.add((app, pk))
            for db in rng.sample(ids["db"], rng.randint(0, 2)):
                links.add((db, pk))
            if rng.random() < 0.3:
                links.add((rng.choice(ids["mbx"]), pk))
            if rng.random() < 0.2:
                links.add((rng.choice(ids["dir"]), pk))
        return rows, sorted(links)


def _csv(rows) -> io.StringIO:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows(rows)
    buf.seek(0)
    return buf


def _bench_owners(count=20) -> list[int]:
    from mof.models import User

    ids = []
    for i in range(1, count + 1):
        user, created = User.objects.get_or_create(
            username=f"bench-owner-{i:02d}",
            defaults={
                "first_name": "Bench",
                "last_name": f"Owner {i:02d}",
                "email": f"bench-owner-{i:02d}@example.test",
            },
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        ids.append(user.pk)
    return ids


def generate(n_cis: int, n_rels: int, seed: int = 42, log=print) -> dict:
    """Wipe the CMDB tables and load a generated CMDB. Returns a summary (core routers etc.)."""
    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        raise SystemExit(
            "bench/generate.py needs PostgreSQL (it bulk-loads with COPY and the benchmark measures "
            "the PostgreSQL impact walk). Set DATABASE_URL=postgres://postgres@127.0.0.1:5432/mof_bench."
        )
    started = time.perf_counter()
    log(
        f"Generating {n_cis:,} CIs and {n_rels:,} relationships (seed {seed}) into "
        f"{connection.settings_dict['NAME']} -- benchmark data, not business data"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT slug, id FROM mof_ciclass")
        class_ids = dict(cursor.fetchall())
    missing = set(VENDORS) - set(class_ids)
    if missing:
        raise SystemExit(f"Built-in CI classes missing ({', '.join(sorted(missing))}): run migrate first.")
    owner_ids = _bench_owners()

    builder = Builder(n_cis, n_rels, seed, class_ids, owner_ids)
    builder.build(log)
    service_rows, links = builder.services()
    log(
        f"  {len(builder.edges):,} relationships, {len(service_rows)} services, {len(links):,} CI-service links "
        f"(built in {time.perf_counter() - started:.1f}s)"
    )

    now = BASE_TIME.isoformat()
    with transaction.atomic(), connection.cursor() as cursor:
        t = time.perf_counter()
        cursor.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        superuser = cursor.fetchone()[0]
        if superuser:
            # Skip the per-row (deferred) foreign-key triggers: the data is consistent by
            # construction, and checked below with one anti-join per key instead.
            cursor.execute("SET LOCAL session_replication_role = replica")
        log(f"  truncated {', '.join(TABLES)} ({time.perf_counter() - t:.1f}s)")

        def copy(table, columns, rows):
            t0 = time.perf_counter()
            with cursor.copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
            ) as copy:  # psycopg 3
                copy.write(_csv(rows).getvalue())
            log(f"  COPY {table}: {len(rows):,} rows ({time.perf_counter() - t0:.1f}s)")

        copy(
            "mof_service",
            ("id", "name", "criticality", "hours_of_service", "description", "created_at", "updated_at", "owner_id"),
            service_rows,
        )
        copy(
            "mof_configurationitem",
            (
                "id",
                "name",
                "status",
                "environment",
                "attributes",
                "description",
                "retired_reason",
                "created_at",
                "updated_at",
                "ci_class_id",
                "owner_id",
            ),
            builder.cis,
        )
        copy("mof_configurationitem_services", ("configurationitem_id", "service_id"), links)
        copy(
            "mof_cirelationship",
            ("source_id", "target_id", "type", "created_at"),
            [(s, t_, k, now) for s, t_, k in builder.edges],
        )
        del builder.edge_set
        if superuser:
            cursor.execute("SET LOCAL session_replication_role = origin")
            t0 = time.perf_counter()
            cursor.execute(
                """SELECT count(*) FROM mof_cirelationship r
                   LEFT JOIN mof_configurationitem s ON s.id = r.source_id
                   LEFT JOIN mof_configurationitem d ON d.id = r.target_id
                   WHERE s.id IS NULL OR d.id IS NULL"""
            )
            dangling = cursor.fetchone()[0]
            if dangling:
                raise RuntimeError(f"{dangling} relationships point at missing CIs")
            log(f"  foreign keys checked ({time.perf_counter() - t0:.1f}s)")
        for table in ("mof_service", "mof_configurationitem", "mof_configurationitem_services", "mof_cirelationship"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    t = time.perf_counter()
    with connection.cursor() as cursor:
        # VACUUM too (not only ANALYZE): sets the visibility map as autovacuum would on a
        # long-lived CMDB, so index-only scans are possible as they would be in production.
        for table in TABLES:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    log(f"  VACUUM ANALYZE ({time.perf_counter() - t:.1f}s)")

    cores = []
    for site, ids in builder.sites.items():
        for pk in ids["core"]:
            cores.append(
                {"id": pk, "name": builder.cis[pk - 1][1], "site": site, "site_cis": sum(len(v) for v in ids.values())}
            )
    summary = {
        "cis": len(builder.cis),
        "relationships": len(builder.edges),
        "services": len(service_rows),
        "service_links": len(links),
        "seed": seed,
        "core_routers": cores,
        "seconds": round(time.perf_counter() - started, 1),
    }
    main = cores[0]
    log(
        f"Done in {summary['seconds']}s. Core router for the benchmark: id={main['id']} name={main['name']} "
        f"(site {main['site']}, {main['site_cis']:,} CIs). All core routers: "
        + ", ".join(f"{c['id']}={c['name']}" for c in cores)
    )
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cis", type=int, default=100_000)
    parser.add_argument("--relationships", type=int, default=400_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        raise SystemExit(
            "bench/generate.py needs DATABASE_URL pointing at a dedicated PostgreSQL database, e.g.\n"
            "  DATABASE_URL=postgres://postgres@127.0.0.1:5432/mof_bench python bench/generate.py\n"
            "(SQLite is not supported: bulk COPY and the PostgreSQL impact walk are what is measured; "
            "`python bench/run.py` creates and migrates the database for you.)"
        )
    setup_django()
    generate(args.cis, args.relationships, args.seed)


if __name__ == "__main__":
    main()
