package proxy

import (
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// balance is a load-balancing algorithm.
type balance uint8

const (
	balanceRoundRobin balance = iota // smooth weighted round robin (nginx)
	balanceLeastConn                 // fewest active requests per weight
	balanceIPHash                    // consistent hash of the client address (/24 for IPv4, as nginx)
	balanceHash                      // consistent hash of a header, cookie, uri or path
	balanceRandomTwo                 // two random servers by weight, the less loaded one
)

func parseBalance(s string) balance {
	switch s {
	case "least_conn":
		return balanceLeastConn
	case "ip_hash":
		return balanceIPHash
	case "hash":
		return balanceHash
	case "random_two":
		return balanceRandomTwo
	}
	return balanceRoundRobin
}

func (b balance) String() string {
	return [...]string{"round_robin", "least_conn", "ip_hash", "hash", "random_two"}[b]
}

// member is one server of one pool (one configuration of the upstream):
// the per-configuration settings around the long-lived backend.
type member struct {
	b           *backend
	index       int
	weight      int
	backup      bool
	down        bool // the config's "down" flag
	maxFails    int
	failTimeout time.Duration

	cw int // smooth round robin's current weight; guarded by the pool's mu
}

// bitset marks the members a request has tried. Up to 64 members need no
// allocation.
type bitset struct {
	small uint64
	big   []uint64
}

func (s *bitset) has(i int) bool {
	if i < 64 {
		return s.small&(1<<uint(i)) != 0
	}
	j := i/64 - 1
	return j < len(s.big) && s.big[j]&(1<<uint(i%64)) != 0
}

func (s *bitset) set(i int) {
	if i < 64 {
		s.small |= 1 << uint(i)
		return
	}
	j := i/64 - 1
	for len(s.big) <= j {
		s.big = append(s.big, 0)
	}
	s.big[j] |= 1 << uint(i%64)
}

func (s *bitset) reset() { s.small = 0; s.big = s.big[:0] }

// selection is one request's view of a pool while picking a server.
type selection struct {
	now     time.Time
	tried   bitset
	hash    uint64
	hasHash bool
	// ignorePassive: consider servers passive health took out. A pick
	// does this when nothing else is left, since max_fails is a guess and
	// a certain 502 is worse than a likely one (nginx goes as far as
	// forgiving every server when all have failed).
	ignorePassive bool
}

// balancer holds a pool's balancing state.
type balancer struct {
	kind    balance
	members []*member
	sets    [2][]int // primaries, backups (member indexes)

	mu    sync.Mutex // smooth round robin weights
	next  atomic.Uint32
	rings [2]*ring // balance hash and ip_hash; a weight change builds a new balancer
}

func newBalancer(kind balance, members []*member) *balancer {
	bl := &balancer{kind: kind, members: members}
	for i, m := range members {
		m.index = i
		if m.backup {
			bl.sets[1] = append(bl.sets[1], i)
		} else {
			bl.sets[0] = append(bl.sets[0], i)
		}
	}
	if kind == balanceHash || kind == balanceIPHash {
		for s := range bl.sets {
			bl.rings[s] = newRing(members, bl.sets[s])
		}
	}
	return bl
}

// usable reports whether member i may take this request.
func (bl *balancer) usable(sel *selection, i int) bool {
	if sel.tried.has(i) {
		return false
	}
	b := bl.members[i].b
	if sel.ignorePassive {
		return b.admin.Load() == adminUp && !b.unhealthy.Load()
	}
	return b.available(sel.now)
}

// pick returns the index of the member for the request, or -1 when no
// server may take it. Backups are considered only when no primary can;
// servers out for failures (max_fails) only when nothing else is left.
func (bl *balancer) pick(sel *selection) int {
	if i := bl.pickOnce(sel); i >= 0 || sel.ignorePassive {
		return i
	}
	sel.ignorePassive = true
	i := bl.pickOnce(sel)
	sel.ignorePassive = false
	return i
}

func (bl *balancer) pickOnce(sel *selection) int {
	for s := range bl.sets {
		if len(bl.sets[s]) == 0 {
			continue
		}
		var i int
		switch bl.kind {
		case balanceLeastConn:
			i = bl.leastConn(sel, bl.sets[s])
		case balanceRandomTwo:
			i = bl.randomTwo(sel, bl.sets[s])
		case balanceHash, balanceIPHash:
			if sel.hasHash {
				i = bl.rings[s].lookup(sel.hash, func(i int) bool { return bl.usable(sel, i) })
			} else {
				i = bl.roundRobin(sel, bl.sets[s])
			}
		default:
			i = bl.roundRobin(sel, bl.sets[s])
		}
		if i >= 0 {
			return i
		}
	}
	return -1
}

// roundRobin is nginx's smooth weighted round robin: every usable server's
// current weight grows by its weight, the largest is chosen and loses the
// total. Over sum(weights) picks each server is chosen weight times, spread
// evenly (5,1,1 gives a a b a c a a, not a a a a a b c).
func (bl *balancer) roundRobin(sel *selection, set []int) int {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	best, total := -1, 0
	for _, i := range set {
		if !bl.usable(sel, i) {
			continue
		}
		m := bl.members[i]
		m.cw += m.weight
		total += m.weight
		if best < 0 || m.cw > bl.members[best].cw {
			best = i
		}
	}
	if best >= 0 {
		bl.members[best].cw -= total
	}
	return best
}

// leastConn picks the usable server with the fewest active requests per
// unit of weight; ties go round robin so equal servers share the load.
func (bl *balancer) leastConn(sel *selection, set []int) int {
	n := len(set)
	start := int(bl.next.Add(1)) % n
	best := -1
	var bestActive int64
	for k := 0; k < n; k++ {
		i := set[(start+k)%n]
		if !bl.usable(sel, i) {
			continue
		}
		m := bl.members[i]
		a := m.b.inflight.Load()
		// a/w < bestActive/bestW without division.
		if best < 0 || a*int64(bl.members[best].weight) < bestActive*int64(m.weight) {
			best, bestActive = i, a
		}
	}
	return best
}

// randomTwo draws two different usable servers at random (by weight) and
// takes the one with fewer active requests per weight: nearly least_conn's
// balance without its herding when many proxies share servers.
func (bl *balancer) randomTwo(sel *selection, set []int) int {
	a := bl.weightedRandom(sel, set, -1)
	if a < 0 {
		return -1
	}
	b := bl.weightedRandom(sel, set, a)
	if b < 0 {
		return a
	}
	ma, mb := bl.members[a], bl.members[b]
	if mb.b.inflight.Load()*int64(ma.weight) < ma.b.inflight.Load()*int64(mb.weight) {
		return b
	}
	return a
}

func (bl *balancer) weightedRandom(sel *selection, set []int, except int) int {
	total := 0
	for _, i := range set {
		if i != except && bl.usable(sel, i) {
			total += bl.members[i].weight
		}
	}
	if total == 0 {
		return -1
	}
	x := rand.IntN(total)
	for _, i := range set {
		if i == except || !bl.usable(sel, i) {
			continue
		}
		x -= bl.members[i].weight
		if x < 0 {
			return i
		}
	}
	return -1 // a server went away between the two passes
}

// ring is a consistent-hash ring (ketama-like): every server owns
// pointsPerWeight points per unit of weight, so removing one of N servers
// moves only the keys it owned, about 1/N of them.
type ring struct {
	hashes  []uint64
	members []int
}

const pointsPerWeight = 160

func newRing(members []*member, set []int) *ring {
	r := &ring{}
	type point struct {
		h uint64
		m int
	}
	var pts []point
	for _, i := range set {
		m := members[i]
		n := min(m.weight*pointsPerWeight, 16000)
		id := m.b.spec.Key
		for k := 0; k < n; k++ {
			pts = append(pts, point{hashString(id + "#" + strconv.Itoa(k)), i})
		}
	}
	sort.Slice(pts, func(a, b int) bool { return pts[a].h < pts[b].h })
	r.hashes = make([]uint64, len(pts))
	r.members = make([]int, len(pts))
	for k, p := range pts {
		r.hashes[k], r.members[k] = p.h, p.m
	}
	return r
}

// lookup returns the first usable member clockwise from h, or -1.
func (r *ring) lookup(h uint64, usable func(int) bool) int {
	n := len(r.hashes)
	if n == 0 {
		return -1
	}
	start := sort.Search(n, func(k int) bool { return r.hashes[k] >= h })
	last := -1
	for k := 0; k < n; k++ {
		m := r.members[(start+k)%n]
		if m == last {
			continue
		}
		if usable(m) {
			return m
		}
		last = m
	}
	return -1
}

// hashString is FNV-1a followed by a 64-bit finaliser (the one of
// splitmix64), so that similar keys ("a#1", "a#2") spread over the ring.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// hashKey is how balance = "hash" (and ip_hash) finds a request's key.
type hashKey struct {
	kind string // "header", "cookie", "uri", "path", "ip"
	name string
}

func parseHashKey(s string, kind balance) hashKey {
	if kind == balanceIPHash {
		return hashKey{kind: "ip"}
	}
	k, name, _ := strings.Cut(s, ":")
	return hashKey{kind: k, name: name}
}

// ipHashKey is the part of a client address ip_hash uses: the first three
// octets of an IPv4 address (as nginx), the whole of an IPv6 one.
func ipHashKey(ip string) string {
	if a := net.ParseIP(ip); a != nil {
		if v4 := a.To4(); v4 != nil {
			return string(v4[:3])
		}
	}
	return ip
}
