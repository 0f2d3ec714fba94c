# Sourced by .ci/run and .ci/django6: PostgreSQL, Redis and Debian's chromium, started or
# installed when missing. Needs REDIS_DB (the Redis database the run uses, emptied here).

log() { printf '\n==> %s\n' "$*"; }

wait_for() {  # wait_for <what> <command...>
    local what="$1"; shift
    for _ in $(seq 1 60); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    echo "$what did not come up" >&2
    return 1
}

ci_services() {
    log "PostgreSQL"
    if ! pg_isready -h 127.0.0.1 -q; then
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start
    fi
    wait_for PostgreSQL pg_isready -h 127.0.0.1 -q

    log "Redis"
    if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
        mkdir -p /var/lib/redis /var/log/redis
        redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
            --dir /var/lib/redis --logfile /var/log/redis/ci.log
    fi
    wait_for Redis redis-cli -h 127.0.0.1 ping
    # A clean queue: no task left over from an earlier run.
    redis-cli -h 127.0.0.1 -n "$REDIS_DB" flushdb >/dev/null

    log "Chromium"
    if [ ! -x /usr/bin/chromium ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q chromium
    fi
}
