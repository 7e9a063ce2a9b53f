#!/usr/bin/env bash
# The main job: a real demo of dockline on the default bridge, in a world of its own.
#
# Everything happens inside a throwaway "host" network namespace with a private state root, so
# nothing touches this machine's real network; at the end it is all removed and checked.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

HOST="dockline-demo-$$"
STATE=$(mktemp -d /tmp/dockline-demo.XXXXXX)
export DOCKLINE_ROOT="$STATE/lib" DOCKLINE_RUN_ROOT="$STATE/run" DOCKLINE_CONFIG="$STATE/daemon.json"
bold=$(tput bold 2>/dev/null || true); plain=$(tput sgr0 2>/dev/null || true)

say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
on_host() { ip netns exec "$HOST" "$@"; }
show() { printf '%s$ %s%s\n' "$bold" "$*" "$plain"; on_host "$@"; }

cleanup() {
  set +e
  if [ -e "/run/netns/$HOST" ]; then  # not `ip netns list | grep -q`: with pipefail, grep
    # quits at its match and ip, still writing (many namespaces), dies of SIGPIPE: no clean-up
    ids=$(on_host dockline ps -aq 2>/dev/null)
    [ -n "$ids" ] && on_host dockline rm -f $ids >/dev/null 2>&1
    [ -n "${LONE_PID:-}" ] && kill "$LONE_PID" 2>/dev/null && wait "$LONE_PID" 2>/dev/null
    on_host dockline gc >/dev/null 2>&1
    ip netns del "$HOST"
  fi
  rm -rf "$STATE"
}
trap cleanup EXIT

say "A throwaway host namespace ($HOST) plays the Docker host"
ip netns add "$HOST"
on_host ip link set lo up

say "The default bridge network is made on first use (like docker0)"
show dockline network ls

say "Two containers on the bridge (the five steps, each before its command starts)"
show dockline run -d --name web -- sleep 300
show dockline run -d --name db --mac-address 02:42:de:ad:be:ef -- sleep 300
WEB_IP=$(on_host dockline inspect -f '{{.NetworkSettings.IPAddress}}' web)
DB_IP=$(on_host dockline inspect -f '{{.NetworkSettings.IPAddress}}' db)
show dockline ps
show dockline exec web ip -br addr show eth0
show dockline exec web ip route
show dockline inspect -f '{{json .NetworkSettings}}' web

say "They ping each other by IP"
show dockline exec web ping -c 2 -W 2 "$DB_IP"
show dockline exec db ping -c 2 -W 2 "$WEB_IP"

say "--net=host: the host's own interfaces (the bridge and the two host-side veths)"
show dockline run --rm --net host -- ip -br link
say "--net=container:web: web's network stack, reachable over lo"
show dockline run --rm --net container:web -- ip -br addr show eth0
say "--net=none: only lo"
show dockline run --rm --net none -- ip -br addr

say "Containers get no privileges over their network (no CAP_NET_ADMIN)"
show dockline run --rm -- ip addr add 172.17.0.250/16 dev eth0 || true

say "The source document's manual procedure, as one command: a process from elsewhere"
# (not through the on_host function: $! must be the pid of the process itself, not of a subshell)
ip netns exec "$HOST" unshare --net sh -c "touch $STATE/lone-ready; exec sleep 300" &
LONE_PID=$!
for _ in $(seq 100); do [ -e "$STATE/lone-ready" ] && break; sleep 0.05; done
show dockline network connect bridge --pid "$LONE_PID"
show ip netns exec "$LONE_PID" ip -br addr show eth0
show dockline exec web ping -c 1 -W 2 "$(on_host dockline network inspect -f '{{json .Containers}}' bridge | python3 -c 'import json,sys; print([v["IPv4Address"] for v in json.load(sys.stdin).values() if v["Name"].startswith("netns:")][0].split("/")[0])')"
say "When that process exits its network goes with it; gc clears the rest"
kill "$LONE_PID"; wait "$LONE_PID" 2>/dev/null || true; LONE_PID=
show dockline gc

say "Stop and remove; the network is torn down"
show dockline stop -t 1 web db
show dockline ps -a
show dockline rm web db
show dockline network inspect -f '{{json .Containers}}' bridge
show ip -br link

say "Clean-up: the host namespace and state go; nothing is left"
cleanup
trap - EXIT
if [ -e "/run/netns/$HOST" ] || compgen -G '/run/netns/dockline-*' >/dev/null; then
  echo "demo: something was left behind" >&2; exit 1
fi
echo "demo: done, nothing left behind"
