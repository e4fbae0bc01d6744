// Package siptest is siphon's in-process test harness, for siphon's own tests
// and for users testing their call flows without sockets.
//
// Network is an in-memory IP network whose datagram sockets, stream
// listeners and dialers plug into transport.Layer, with loss, delay,
// duplication, reordering and NATs (AddNAT: a home router's mapping,
// filtering and UDP timeout, for NAT traversal tests); Clock is a fake clock for transaction.Config
// that makes a Timer B test take microseconds; Stack puts a full element
// (transport, transactions, a Handler) on the network; Recorder captures
// what a Handler writes when called directly; NewRequest and Respond script
// user agents.
//
//	net := siptest.NewNetwork(siptest.NetworkConfig{})
//	uas := siptest.NewStack(t, net, "192.0.2.20:5060", siptest.StackConfig{Handler: myHandler})
//	uac := siptest.NewStack(t, net, "192.0.2.10:5060", siptest.StackConfig{})
//	res, err := uac.Do(ctx, siptest.NewRequest(sip.OPTIONS, "sip:bob@192.0.2.20"), uas.Target(transport.UDP))
package siptest
