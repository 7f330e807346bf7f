# server.sh - sourced by tests/ch/run.sh: start one ClickHouse server from
# Debian (clickhouse-server 18.16) for a suite, from a config file of its
# own in "$work/ch" (HTTP and native ports on 127.0.0.1, data, logs and
# users there), stopped by its pid when the suite's shell exits.
#
# Needs: $work (absolute).  Sets and exports DMARCD_CH
# (clickhouse://default@127.0.0.1:HTTP_PORT) and DMARCD_CH_DIR; defines
# ch_start and ch_stop (the tests stop and start it again).  Exits 1 when
# the server cannot start.
chbin=/usr/bin/clickhouse-server
[ -x "$chbin" ] || chbin=/usr/sbin/clickhouse-server
[ -x "$chbin" ] || { echo "ch: clickhouse-server missing (make test installs it)" >&2; exit 1; }
chdir=$work/ch
mkdir -p "$chdir"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_port=$(free_port)
tcp_port=$(free_port)
cat >"$chdir/config.xml" <<XML
<yandex>
  <logger><level>warning</level><log>$chdir/server.log</log><errorlog>$chdir/error.log</errorlog><console>0</console></logger>
  <http_port>$http_port</http_port>
  <tcp_port>$tcp_port</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>$chdir/data/</path>
  <tmp_path>$chdir/tmp/</tmp_path>
  <user_files_path>$chdir/user_files/</user_files_path>
  <format_schema_path>$chdir/format_schemas/</format_schema_path>
  <users_config>$chdir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
XML
cat >"$chdir/users.xml" <<XML
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
ch_start() {
	"$chbin" --config-file="$chdir/config.xml" >>"$chdir/stdout.log" 2>&1 &
	echo $! >"$chdir/pid"
	disown
	for _ in $(seq 1 300); do
		curl -s -o /dev/null "http://127.0.0.1:$http_port/?query=SELECT%201" && return 0
		sleep 0.1
	done
	echo "ch: clickhouse-server did not answer on 127.0.0.1:$http_port" >&2
	tail -20 "$chdir/error.log" >&2
	return 1
}
ch_stop() {
	[ -f "$chdir/pid" ] || return 0
	pid=$(cat "$chdir/pid")
	kill "$pid" 2>/dev/null
	for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null
	rm -f "$chdir/pid"
	return 0
}
trap ch_stop EXIT
ch_start || exit 1
export DMARCD_CH=clickhouse://default@127.0.0.1:$http_port DMARCD_CH_DIR=$chdir
export DMARCD_CH_HTTP=$http_port DMARCD_CH_BIN=$chbin
echo "ch: ClickHouse $(curl -s "http://127.0.0.1:$http_port/?query=SELECT%20version()") on 127.0.0.1:$http_port"
