package resolve

import (
	"math/rand/v2"
	"slices"
)

// srvRR is an SRV record (RFC 2782).
type srvRR struct {
	priority, weight, port uint16
	target                 string // lower-case FQDN; "." means no service
}

// orderSRV returns the records in the order to try them (RFC 2782): lowest
// priority first and, within one priority, a weighted random draw without
// replacement. Records of weight 0 are put first before each draw, so they
// are picked only when the draw is 0: rarely while others have weight, and
// in list order once only weight-0 records remain; a set of only weight-0
// records is shuffled instead, as no server selection was asked for.
func orderSRV(in []srvRR) []srvRR {
	out := slices.Clone(in)
	slices.SortStableFunc(out, func(a, b srvRR) int { return int(a.priority) - int(b.priority) })
	for i := 0; i < len(out); {
		j := i + 1
		for j < len(out) && out[j].priority == out[i].priority {
			j++
		}
		weighted(out[i:j])
		i = j
	}
	return out
}

// weighted orders one priority's records in place by RFC 2782 §"Usage
// rules".
func weighted(rs []srvRR) {
	sum := 0
	for _, r := range rs {
		sum += int(r.weight)
	}
	if sum == 0 {
		rand.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
		return
	}
	// Zero weights first, keeping their order otherwise.
	slices.SortStableFunc(rs, func(a, b srvRR) int {
		switch {
		case a.weight == 0 && b.weight != 0:
			return -1
		case a.weight != 0 && b.weight == 0:
			return 1
		}
		return 0
	})
	for k := 0; k < len(rs)-1; k++ {
		// A uniform number in [0, sum]: the first record whose running
		// sum reaches it is selected next.
		n := rand.IntN(sum + 1)
		run := 0
		pick := len(rs) - 1
		for i := k; i < len(rs); i++ {
			run += int(rs[i].weight)
			if run >= n {
				pick = i
				break
			}
		}
		sel := rs[pick]
		copy(rs[k+1:pick+1], rs[k:pick])
		rs[k] = sel
		sum -= int(sel.weight)
	}
}
