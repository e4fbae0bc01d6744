package transaction

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
	"github.com/stretchr/testify/require"
)

func ghostStore(t *testing.T) (*Layer, *shard) {
	t.Helper()
	tp, err := transport.New(transport.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = tp.Close() })
	l := New(tp, Config{})
	return l, &l.shards[0]
}

func TestGhostStoreSpansChunksAndReapsInOrder(t *testing.T) {
	l, s := ghostStore(t)
	g := &s.ghosts
	ttl := 32 * time.Second
	resp := bytes.Repeat([]byte("x"), 1000)
	const n = 500 // about eight chunks
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range n {
		k := key{branch: fmt.Sprintf("z9hG4bK%d", i), host: "192.0.2.1", port: 5060, method: sip.REGISTER}
		require.True(t, g.add(k, l.keyHash(k), append(resp[:990:990], fmt.Sprintf("%010d", i)...), int64(i), ttl))
	}
	require.Greater(t, len(g.chunks), 5)
	for i := range n {
		k := key{branch: fmt.Sprintf("z9hG4bK%d", i), host: "192.0.2.1", port: 5060, method: sip.REGISTER}
		got := g.lookup(k, l.keyHash(k), 0)
		require.Equal(t, fmt.Sprintf("%010d", i), string(got[990:]))
		other := k
		other.method = sip.OPTIONS
		require.Nil(t, g.lookup(other, l.keyHash(other), 0))
	}
	// Half expire: their chunks go, the rest still answer.
	require.Equal(t, n/2, g.reap(int64(ttl)+n/2-1))
	k := key{branch: "z9hG4bK0", host: "192.0.2.1", port: 5060, method: sip.REGISTER}
	require.Nil(t, g.lookup(k, l.keyHash(k), int64(ttl)))
	k.branch = fmt.Sprintf("z9hG4bK%d", n-1)
	require.NotNil(t, g.lookup(k, l.keyHash(k), int64(ttl)+n/2))
	require.LessOrEqual(t, len(g.chunks), 5)
	// All expire: nothing is left but one spare chunk.
	require.Equal(t, n/2, g.reap(int64(ttl)+n))
	require.Empty(t, g.chunks)
	require.Empty(t, g.index)
	require.Len(t, g.spare, ghostSpare)
	// And the store is reusable after emptying.
	require.True(t, g.add(k, l.keyHash(k), resp, int64(ttl)+n, ttl))
	require.Equal(t, resp, g.lookup(k, l.keyHash(k), int64(ttl)+n))
}

func TestGhostStoreHashCollisionNeverAnswersTheWrongKey(t *testing.T) {
	_, s := ghostStore(t)
	g := &s.ghosts
	a := key{branch: "z9hG4bKa", host: "h", port: 1, method: sip.OPTIONS}
	b := key{branch: "z9hG4bKb", host: "h", port: 1, method: sip.OPTIONS}
	s.mu.Lock()
	defer s.mu.Unlock()
	require.True(t, g.add(a, 7, []byte("A"), 0, time.Second))
	require.True(t, g.add(b, 7, []byte("B"), 0, time.Second)) // same hash
	require.Nil(t, g.lookup(a, 7, 0), "a lost its index entry to b: a retransmission of a is a new request, never b's response")
	require.Equal(t, []byte("B"), g.lookup(b, 7, 0))
	require.Equal(t, 2, g.reap(int64(time.Second)))
	require.Empty(t, g.index)
}

func TestGhostStoreRefusesRecordsBiggerThanAChunk(t *testing.T) {
	l, s := ghostStore(t)
	k := key{branch: "z9hG4bKbig", host: "h", port: 1, method: sip.MESSAGE}
	s.mu.Lock()
	defer s.mu.Unlock()
	require.False(t, s.ghosts.add(k, l.keyHash(k), make([]byte, ghostChunk), 0, time.Second))
	require.Zero(t, s.ghosts.n)
}

// TestGhostStoreEvictsOldestChunkAtItsBound: at MaxLingerBytes a shard
// reuses its oldest chunk, ending those ghosts early, instead of growing.
func TestGhostStoreEvictsOldestChunkAtItsBound(t *testing.T) {
	tp, err := transport.New(transport.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = tp.Close() })
	l := New(tp, Config{MaxLingerBytes: 2 * shards * ghostChunk})
	s := &l.shards[0]
	g := &s.ghosts
	require.Equal(t, 2, g.maxChunks)
	resp := bytes.Repeat([]byte("y"), 1000)
	const n = 1000 // about sixteen chunks' worth
	k := func(i int) key {
		return key{branch: fmt.Sprintf("z9hG4bKe%d", i), host: "192.0.2.1", port: 5060, method: sip.REGISTER}
	}
	s.mu.Lock()
	for i := range n {
		require.True(t, g.add(k(i), l.keyHash(k(i)), resp, 0, time.Minute))
		l.ghostCount.Add(1)
		require.LessOrEqual(t, len(g.chunks), 2)
	}
	require.Nil(t, g.lookup(k(0), l.keyHash(k(0)), 0), "the oldest ended early")
	require.Equal(t, resp, g.lookup(k(n-1), l.keyHash(k(n-1)), 0), "the newest still answers")
	require.Less(t, g.n, 2*ghostChunk/1000)
	s.mu.Unlock()
	st := l.Stats()
	require.Equal(t, g.n, st.Lingering)
	require.EqualValues(t, n-g.n, st.LingerEvicted)
	require.Zero(t, st.Live)
}
