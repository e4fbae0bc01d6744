package transaction_test

import "net/netip"

type netipAddrPort = netip.AddrPort

func netipMust(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
