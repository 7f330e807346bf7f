# shards.sh - sourced by tests/cluster/run.sh: start two ClickHouse servers
# from Debian (clickhouse-server 18.16) as the two shards of one cluster,
# "dmarcd_test" (remote_servers in each one's config file: both shards,
# by their native ports on 127.0.0.1), each in a folder of its own under
# "$work/ch-shards", stopped by pid when the suite's shell exits.
#
# Needs: $work (absolute).  Exports DMARCD_CH_SHARDS ("HOST:HTTP_PORT
# HOST:HTTP_PORT", for clickhouse_shards), DMARCD_CH_CLUSTER and
# DMARCD_CH_SHARD_URL (clickhouse://default@ the first shard).  Exits 1
# when a server cannot start.
chbin=/usr/bin/clickhouse-server
[ -x "$chbin" ] || chbin=/usr/sbin/clickhouse-server
[ -x "$chbin" ] || { echo "ch: clickhouse-server missing (make test installs it)" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
shard_http=() shard_tcp=() shard_pids=()
for i in 0 1; do
	shard_http[$i]=$(free_port)
	shard_tcp[$i]=$(free_port)
done
shards_stop() {
	for pid in "${shard_pids[@]}"; do
		kill "$pid" 2>/dev/null
		for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
	done
	return 0
}
trap shards_stop EXIT
for i in 0 1; do
	d=$work/ch-shards/$i
	mkdir -p "$d"
	cat >"$d/config.xml" <<XML
<yandex>
  <logger><level>warning</level><log>$d/server.log</log><errorlog>$d/error.log</errorlog><console>0</console></logger>
  <http_port>${shard_http[$i]}</http_port>
  <tcp_port>${shard_tcp[$i]}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>$d/data/</path>
  <tmp_path>$d/tmp/</tmp_path>
  <user_files_path>$d/user_files/</user_files_path>
  <format_schema_path>$d/format_schemas/</format_schema_path>
  <users_config>$d/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <remote_servers>
    <dmarcd_test>
      <shard><replica><host>127.0.0.1</host><port>${shard_tcp[0]}</port></replica></shard>
      <shard><replica><host>127.0.0.1</host><port>${shard_tcp[1]}</port></replica></shard>
    </dmarcd_test>
  </remote_servers>
</yandex>
XML
	cat >"$d/users.xml" <<XML
<yandex>
  <profiles><default><max_memory_usage>3000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
	"$chbin" --config-file="$d/config.xml" >>"$d/stdout.log" 2>&1 &
	shard_pids[$i]=$!
	disown
done
for i in 0 1; do
	up=
	for _ in $(seq 1 300); do
		curl -s -o /dev/null "http://127.0.0.1:${shard_http[$i]}/?query=SELECT%201" && { up=1; break; }
		sleep 0.1
	done
	[ -n "$up" ] || { echo "ch: shard $i did not answer" >&2; tail -20 "$work/ch-shards/$i/error.log" >&2; exit 1; }
done
export DMARCD_CH_CLUSTER=dmarcd_test
export DMARCD_CH_SHARDS="127.0.0.1:${shard_http[0]} 127.0.0.1:${shard_http[1]}"
export DMARCD_CH_SHARD_URL=clickhouse://default@127.0.0.1:${shard_http[0]}
echo "ch: two shards of ClickHouse $(curl -s "http://127.0.0.1:${shard_http[0]}/?query=SELECT%20version()") on 127.0.0.1:${shard_http[0]} and :${shard_http[1]}"
