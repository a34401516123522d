#!/usr/bin/env bash
# Makes sure the local servers the tests talk to are running (PostgreSQL,
# MariaDB, Redis on 127.0.0.1), installing them from Debian's packages on a
# plain machine, and that Python's aiosmtpd is there for the SMTP server the
# email tests start themselves, and that Prometheus is installed for the
# tests that start one. Needs root for installing and starting;
# harmless when all are already up.
set -uo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # port name
  for _ in $(seq 60); do up "$1" && { echo "$2 is up on 127.0.0.1:$1"; return 0; }; sleep 1; done
  echo "$2 did not come up on 127.0.0.1:$1" >&2; return 1
}

need_install=()
command -v pg_ctlcluster >/dev/null || need_install+=(postgresql)
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || need_install+=(mariadb-server)
command -v redis-server >/dev/null || need_install+=(redis-server)
# The Prometheus tests start this program themselves (tests/support/prometheus.rs).
command -v prometheus >/dev/null || need_install+=(prometheus)
# tests/update.rs signs release manifests with it (through scripts/release.sh).
command -v minisign >/dev/null || need_install+=(minisign)
# tests/hub_faults.rs makes network namespaces (ip) and reads sockets (ss).
{ command -v ip >/dev/null && command -v ss >/dev/null; } || need_install+=(iproute2)
installed=" "
if [ ${#need_install[@]} -gt 0 ]; then
  echo "installing ${need_install[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_install[@]}"
  installed=" ${need_install[*]} "
fi

# A server this script just installed is ours to set up the way the tests
# expect (services.md): PostgreSQL trusting local TCP logins, MariaDB's root
# logging in over TCP with an empty password. Existing servers are left alone.
if [[ $installed == *" postgresql "* ]]; then
  for hba in /etc/postgresql/*/main/pg_hba.conf; do
    grep -q '^host all all 127.0.0.1/32 trust' "$hba" || sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  done
fi

status=0
if ! up 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  wait_for 5432 PostgreSQL || status=1
else echo "PostgreSQL is up on 127.0.0.1:5432"; fi
if [[ $installed == *" postgresql "* ]]; then # the package may have started it before the edit
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main reload || true
fi
su postgres -c "psql -tc \"SELECT 1 FROM pg_database WHERE datname='test'\" | grep -q 1 || createdb test" 2>/dev/null || true
if ! up 3306; then
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  wait_for 3306 MariaDB || status=1
else echo "MariaDB is up on 127.0.0.1:3306"; fi
if [[ $installed == *" mariadb-server "* ]]; then
  mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
    CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
    GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;" || true
fi
mariadb -uroot -e "CREATE DATABASE IF NOT EXISTS test" 2>/dev/null || true
if ! up 6379; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  wait_for 6379 Redis || status=1
else echo "Redis is up on 127.0.0.1:6379"; fi
# The email tests start tests/support/smtp_server.py with this interpreter.
python=${KEEPWATCH_TEST_PYTHON:-python3}
has_aiosmtpd() { "$python" -c 'import aiosmtpd' 2>/dev/null; }
if ! command -v "$python" >/dev/null; then
  echo "installing python3 and python3-aiosmtpd"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-aiosmtpd || true
fi
if has_aiosmtpd; then
  echo "aiosmtpd is installed for $python"
else
  echo "installing aiosmtpd for $python"
  pip=("$python" -m pip install --quiet --disable-pip-version-check --no-warn-script-location)
  # --user first; a Debian "externally managed" Python refuses that without
  # --break-system-packages (harmless for a user install); a virtualenv
  # refuses --user; Debian's own package is the last resort.
  "${pip[@]}" --user aiosmtpd \
    || "${pip[@]}" --user --break-system-packages aiosmtpd \
    || "${pip[@]}" aiosmtpd \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-aiosmtpd; } \
    || true
  if has_aiosmtpd; then
    echo "aiosmtpd is installed for $python"
  else
    echo "aiosmtpd could not be installed for $python: the email tests need it" \
      "(python3 -m pip install --user aiosmtpd, or apt-get install python3-aiosmtpd)" >&2
    status=1
  fi
fi
exit $status
