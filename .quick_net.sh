set -e
cd /work/main
B=$(mktemp -d -p .test-tmp p2pnet-XXXX)
COMMON="--network-id testnet --p2p-host 127.0.0.1 --p2p-exchange-interval-ms 1000 --p2p-ping-interval-ms 500 --p2p-target-outbound 2 --p2p-max-inbound 3 --log-level debug"
./node_modules/deno/deno task node --role seed --data-dir $B/n0 --http-port 42400 --p2p-port 42500 $COMMON > $B/n0.log 2>&1 &
echo $! > $B/pids
sleep 3
for i in 1 2 3 4 5; do
./node_modules/deno/deno task node --data-dir $B/n$i --http-port $((42400+i)) --p2p-port $((42500+i)) --seeds 127.0.0.1:42500 $COMMON > $B/n$i.log 2>&1 &
echo $! >> $B/pids
done
sleep 15
for i in 0 1 2 3 4 5; do curl -s localhost:$((42400+i))/api/v1/peers/status | python3 -c "import json,sys; d=json.load(sys.stdin)['data']; print(d['node_id'][-6:], 'out', d['outbound'], 'in', d['inbound'], 'known', d['known_peers'])"; done
echo $B
