package proxy

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/runtime/config"
)

// testMembers builds members for addresses with the given weights.
func testMembers(weights ...int) []*member {
	var ms []*member
	for i, w := range weights {
		key := fmt.Sprintf("uwsgi://10.0.0.%d:3031", i+1)
		be := &backend{spec: config.ServerSpec{Key: key, Scheme: "uwsgi"}}
		ms = append(ms, &member{b: be, weight: w})
	}
	return ms
}

func pickN(bl *balancer, n int, sel func() *selection) map[int]int {
	counts := map[int]int{}
	for k := 0; k < n; k++ {
		counts[bl.pick(sel())]++
	}
	return counts
}

func fresh() *selection { return &selection{now: time.Now()} }

func TestRoundRobinWeights(t *testing.T) {
	bl := newBalancer(balanceRoundRobin, testMembers(5, 1, 1))
	// Smooth weighted round robin: in each cycle of 7, a gets 5, b and c
	// one each, and a is never picked more than twice in a row... nginx's
	// sequence for 5,1,1 is a a b a c a a.
	var seq []string
	for k := 0; k < 7; k++ {
		seq = append(seq, string(rune('a'+bl.pick(fresh()))))
	}
	if got := strings.Join(seq, " "); got != "a a b a c a a" {
		t.Errorf("sequence %q, want nginx's smooth order \"a a b a c a a\"", got)
	}
	counts := pickN(bl, 7000, fresh)
	if counts[0] != 5000 || counts[1] != 1000 || counts[2] != 1000 {
		t.Errorf("distribution %v, want 5000/1000/1000", counts)
	}
}

func TestRoundRobinSkipsUnavailable(t *testing.T) {
	ms := testMembers(1, 1, 1)
	ms[1].b.admin.Store(adminDown)
	ms[2].b.admin.Store(adminDrain)
	bl := newBalancer(balanceRoundRobin, ms)
	counts := pickN(bl, 100, fresh)
	if counts[0] != 100 {
		t.Errorf("distribution %v, want all on the only up server", counts)
	}
	ms[0].b.unhealthy.Store(true)
	if i := bl.pick(fresh()); i != -1 {
		t.Errorf("pick = %d with every server out, want -1", i)
	}
}

func TestBackupOnlyWhenPrimariesOut(t *testing.T) {
	ms := testMembers(1, 1, 1)
	ms[2].backup = true
	bl := newBalancer(balanceRoundRobin, ms)
	counts := pickN(bl, 100, fresh)
	if counts[2] != 0 {
		t.Fatalf("backup got %d requests while primaries are up", counts[2])
	}
	// A request that tried both primaries goes to the backup.
	sel := fresh()
	sel.tried.set(0)
	sel.tried.set(1)
	if i := bl.pick(sel); i != 2 {
		t.Errorf("pick after both primaries failed = %d, want the backup", i)
	}
	// Passive failure of both primaries: the backup takes over.
	now := time.Now()
	for _, m := range ms[:2] {
		m.b.failedUntil.Store(now.Add(time.Minute).UnixNano())
	}
	if i := bl.pick(&selection{now: now}); i != 2 {
		t.Errorf("pick with primaries failed = %d, want the backup", i)
	}
	// Everything failed (passively): rather than a certain 502, a failed
	// server is tried; servers set down or unhealthy never are.
	ms[2].b.failedUntil.Store(now.Add(time.Minute).UnixNano())
	if i := bl.pick(&selection{now: now}); i < 0 {
		t.Error("pick with every server failed = -1, want one of them tried")
	}
	for _, m := range ms {
		m.b.unhealthy.Store(true)
	}
	if i := bl.pick(&selection{now: now}); i >= 0 {
		t.Errorf("pick with every server unhealthy = %d, want -1", i)
	}
}

func TestLeastConnUnevenLoad(t *testing.T) {
	ms := testMembers(1, 1, 1)
	bl := newBalancer(balanceLeastConn, ms)
	// Server 0 holds 5 long requests, server 1 holds 2: new requests go to
	// server 2 until it catches up, then spread over 1 and 2.
	ms[0].b.inflight.Store(5)
	ms[1].b.inflight.Store(2)
	for k := 0; k < 2; k++ {
		i := bl.pick(fresh())
		if i != 2 {
			t.Fatalf("pick %d = %d, want the least loaded server 2", k, i)
		}
		ms[i].b.inflight.Add(1)
	}
	got := map[int]int{}
	for k := 0; k < 6; k++ {
		i := bl.pick(fresh())
		got[i]++
		ms[i].b.inflight.Add(1)
	}
	if got[0] != 0 || got[1] != 3 || got[2] != 3 {
		t.Errorf("after catching up: %v, want 3 and 3 on servers 1 and 2", got)
	}
	// Weights: a weight-3 server carries three times the requests.
	ms = testMembers(3, 1)
	bl = newBalancer(balanceLeastConn, ms)
	for k := 0; k < 400; k++ {
		ms[bl.pick(fresh())].b.inflight.Add(1)
	}
	if a, b := ms[0].b.inflight.Load(), ms[1].b.inflight.Load(); a != 300 || b != 100 {
		t.Errorf("weighted least_conn: %d/%d, want 300/100", a, b)
	}
}

func TestRandomTwo(t *testing.T) {
	ms := testMembers(1, 1, 1, 1)
	bl := newBalancer(balanceRandomTwo, ms)
	ms[0].b.inflight.Store(100) // heavily loaded: only picked when paired with... never
	counts := map[int]int{}
	for k := 0; k < 4000; k++ {
		counts[bl.pick(fresh())]++
	}
	if counts[0] != 0 {
		t.Errorf("the loaded server got %d picks; two choices should always avoid it", counts[0])
	}
	for i := 1; i < 4; i++ {
		if counts[i] < 1000 || counts[i] > 1700 {
			t.Errorf("server %d got %d of 4000, want about 1333", i, counts[i])
		}
	}
}

func TestConsistentHashStability(t *testing.T) {
	const n, keys = 5, 20000
	ms := testMembers(1, 1, 1, 1, 1)
	bl := newBalancer(balanceHash, ms)
	owner := make([]int, keys)
	counts := map[int]int{}
	for k := 0; k < keys; k++ {
		sel := &selection{now: time.Now(), hash: hashString(fmt.Sprintf("user-%d", k)), hasHash: true}
		owner[k] = bl.pick(sel)
		counts[owner[k]]++
	}
	for i := 0; i < n; i++ {
		if share := float64(counts[i]) / keys; math.Abs(share-0.2) > 0.06 {
			t.Errorf("server %d owns %.1f%% of the keys, want about 20%%", i, share*100)
		}
	}
	// Same key, same server, every time.
	for k := 0; k < 100; k++ {
		sel := &selection{now: time.Now(), hash: hashString(fmt.Sprintf("user-%d", k)), hasHash: true}
		if bl.pick(sel) != owner[k] {
			t.Fatalf("key %d moved without any change", k)
		}
	}
	// Remove server 2 (a new balancer without it, as a reload builds):
	// only its keys move, about 1/N.
	var rest []*member
	for i, m := range ms {
		if i != 2 {
			c := *m
			rest = append(rest, &c)
		}
	}
	bl2 := newBalancer(balanceHash, rest)
	moved := 0
	for k := 0; k < keys; k++ {
		sel := &selection{now: time.Now(), hash: hashString(fmt.Sprintf("user-%d", k)), hasHash: true}
		got := rest[bl2.pick(sel)].b.spec.Key
		if got != ms[owner[k]].b.spec.Key {
			moved++
			if owner[k] != 2 {
				t.Fatalf("key %d moved from a server that stayed", k)
			}
		}
	}
	if frac := float64(moved) / keys; frac > 0.27 || frac < 0.13 {
		t.Errorf("%.1f%% of keys moved, want about 1/%d = 20%%", frac*100, n)
	}
	// A server taken out (down) rather than removed: its keys go to the
	// next server on the ring, the others stay.
	ms[3].b.admin.Store(adminDown)
	for k := 0; k < 2000; k++ {
		sel := &selection{now: time.Now(), hash: hashString(fmt.Sprintf("user-%d", k)), hasHash: true}
		got := bl.pick(sel)
		if owner[k] != 3 && got != owner[k] {
			t.Fatalf("key %d moved from server %d to %d when server 3 went down", k, owner[k], got)
		}
		if got == 3 {
			t.Fatalf("key %d went to the down server", k)
		}
	}
}

func TestHashWithoutKeyFallsBackToRoundRobin(t *testing.T) {
	bl := newBalancer(balanceHash, testMembers(1, 1))
	counts := pickN(bl, 10, fresh)
	if counts[0] != 5 || counts[1] != 5 {
		t.Errorf("requests without a key: %v, want round robin", counts)
	}
}

func TestIPHashKey(t *testing.T) {
	if ipHashKey("10.1.2.3") != ipHashKey("10.1.2.200") {
		t.Error("ip_hash: addresses in one /24 must share a key (nginx)")
	}
	if ipHashKey("10.1.2.3") == ipHashKey("10.1.3.3") {
		t.Error("ip_hash: different /24s share a key")
	}
	if ipHashKey("::1") != "::1" {
		t.Error("ip_hash: IPv6 uses the whole address")
	}
}

func TestWeightChange(t *testing.T) {
	p := newPool(config.Upstream{Name: "u"}, testMembers(1, 1))
	p.bal.Store(p.withWeight(0, 3))
	counts := pickN(p.bal.Load(), 400, fresh)
	if counts[0] != 300 || counts[1] != 100 {
		t.Errorf("after SetWeight(3): %v, want 300/100", counts)
	}
}

func TestBitset(t *testing.T) {
	var b bitset
	for _, i := range []int{0, 5, 63, 64, 130} {
		b.set(i)
	}
	for i := 0; i < 200; i++ {
		want := i == 0 || i == 5 || i == 63 || i == 64 || i == 130
		if b.has(i) != want {
			t.Errorf("has(%d) = %v", i, b.has(i))
		}
	}
}
