package main

import (
	"context"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wmnsk/milenage"

	"github.com/siphon-go/siphon/diameter"
	"github.com/siphon-go/siphon/diameter/cx"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// TS 35.208 §4.3 test set 1.
func TestAKAVectorTestSet1(t *testing.T) {
	k := unhex(t, "465b5ce8b199b49faa5f0a2ee238a6bc")
	opc := unhex(t, "cd63cb71954a9f4e48a5994e37a02baf")
	r := unhex(t, "23553cbe9637a89d218ae64dae47bf35")
	item, err := akaVector(k, opc, r, 0xff9bb4d0b607, 0xb9b9)
	require.NoError(t, err)
	assert.Equal(t, "a54211d5e3ba50bf", hex.EncodeToString(item.Authorization), "RES")
	assert.Equal(t, "b40ba9a3c58b2a05bbf0d987b21bf8cb", hex.EncodeToString(item.ConfidentialityKey))
	assert.Equal(t, "f769bcd751044604127672711c6d3441", hex.EncodeToString(item.IntegrityKey))
	autn := item.Authenticate[16:]
	// AUTN = SQN xor AK (AK aa689c648370) || AMF || MAC-A (4a9ffac354dfafb3)
	assert.Equal(t, "55f328b43577"+"b9b9"+"4a9ffac354dfafb3", hex.EncodeToString(autn))
}

// TestHSSInProcess boots the program on a random port and walks an IMS
// registration through it: UAR, MAR (checked as a UE would), re-sync, SAR,
// LIR, de-registration.
func TestHSSInProcess(t *testing.T) {
	dir := t.TempDir()
	subs, err := os.ReadFile("subscribers.json")
	require.NoError(t, err)
	path := filepath.Join(dir, "subs.json")
	require.NoError(t, os.WriteFile(path, subs, 0o600))

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	var logs strings.Builder
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-subscribers", path, "-scscf", "sip:scscf.ims.example.com:6060",
			"-allow-hosts", "icscf.ims.example.com,scscf.ims.example.com"}, &syncWriter{b: &logs}, ready)
	}()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("hss exited: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("hss did not start")
	}
	defer func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("hss did not stop")
		}
	}()

	peer, err := diameter.NewPeer(addr.String(), diameter.PeerConfig{Config: diameter.Config{
		OriginHost: "scscf.ims.example.com", OriginRealm: "ims.example.com", Apps: []diameter.App{cx.App()},
	}})
	require.NoError(t, err)
	defer peer.Close()
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	require.NoError(t, peer.WaitOpen(wctx))
	c, err := cx.NewClient(peer, cx.Config{OriginHost: "scscf.ims.example.com", DestinationRealm: "ims.example.com"})
	require.NoError(t, err)

	const impi, impu, scscf = "alice@ims.example.com", "sip:alice@ims.example.com", "sip:scscf.ims.example.com:6060"
	uaa, err := c.UAR(ctx, &cx.UAR{UserName: impi, PublicIdentity: impu})
	require.NoError(t, err)
	assert.Equal(t, cx.Experimental(cx.FirstRegistration), uaa.Result)
	assert.Equal(t, []string{scscf}, uaa.Capabilities.ServerNames)

	uaa, err = c.UAR(ctx, &cx.UAR{UserName: "bob@ims.example.com", PublicIdentity: "sip:bob@ims.example.com"})
	require.NoError(t, err)
	assert.Equal(t, cx.Experimental(cx.ErrorUserUnknown), uaa.Result)

	k := unhex(t, "465b5ce8b199b49faa5f0a2ee238a6bc")
	opc := unhex(t, "cd63cb71954a9f4e48a5994e37a02baf")
	maa, err := c.MAR(ctx, &cx.MAR{UserName: impi, PublicIdentity: impu, ServerName: scscf, Scheme: cx.SchemeAKAv1MD5, NumberAuthItems: 2})
	require.NoError(t, err)
	require.True(t, maa.Result.Success(), maa.Result.String())
	require.Len(t, maa.Items, 2)
	sqn1 := ueCheck(t, k, opc, maa.Items[0])
	sqn2 := ueCheck(t, k, opc, maa.Items[1])
	assert.Equal(t, sqn1+1, sqn2, "SQN advances per vector")

	// The UE is ahead (SQN_MS = 1000): it answers with AUTS and the HSS re-syncs.
	r := maa.Items[1].Authenticate[:16]
	ue := milenage.NewWithOPc(k, opc, r, 1000, 0x8000)
	require.NoError(t, ue.ComputeAll())
	auts, err := ue.GenerateAUTS()
	require.NoError(t, err)
	maa, err = c.MAR(ctx, &cx.MAR{UserName: impi, PublicIdentity: impu, ServerName: scscf, Scheme: cx.SchemeAKAv1MD5,
		Authorization: append(append([]byte{}, r...), auts...)})
	require.NoError(t, err)
	require.True(t, maa.Result.Success())
	assert.Equal(t, uint64(1001), ueCheck(t, k, opc, maa.Items[0]))

	saa, err := c.SAR(ctx, &cx.SAR{UserName: impi, PublicIdentities: []string{impu}, ServerName: scscf, AssignmentType: cx.AssignRegistration})
	require.NoError(t, err)
	require.True(t, saa.Result.Success())
	assert.Contains(t, string(saa.UserData), "<Identity>tel:+15550100</Identity>")

	uaa, err = c.UAR(ctx, &cx.UAR{UserName: impi, PublicIdentity: impu})
	require.NoError(t, err)
	assert.Equal(t, cx.Experimental(cx.SubsequentRegistration), uaa.Result)
	assert.Equal(t, scscf, uaa.ServerName)

	lia, err := c.LIR(ctx, &cx.LIR{PublicIdentity: "tel:+15550100"})
	require.NoError(t, err)
	assert.Equal(t, scscf, lia.ServerName)

	saa, err = c.SAR(ctx, &cx.SAR{UserName: impi, PublicIdentities: []string{impu}, ServerName: scscf, AssignmentType: cx.UserDeregistration})
	require.NoError(t, err)
	require.True(t, saa.Result.Success())
	lia, err = c.LIR(ctx, &cx.LIR{PublicIdentity: impu})
	require.NoError(t, err)
	assert.Equal(t, cx.Experimental(cx.UnregisteredService), lia.Result)
}

// ueCheck verifies a vector as the ISIM would (MAC-A, RES) and returns the
// SQN it carries.
func ueCheck(t *testing.T, k, opc []byte, it cx.AuthItem) uint64 {
	t.Helper()
	require.Len(t, it.Authenticate, 32)
	r, autn := it.Authenticate[:16], it.Authenticate[16:]
	m := milenage.NewWithOPc(k, opc, r, 0, 0x8000)
	_, _, _, ak, err := m.F2345()
	require.NoError(t, err)
	var sqn uint64
	for i := 0; i < 6; i++ {
		sqn = sqn<<8 | uint64(autn[i]^ak[i])
	}
	m = milenage.NewWithOPc(k, opc, r, sqn, 0x8000)
	require.NoError(t, m.ComputeAll())
	assert.Equal(t, m.MACA, autn[8:16], "MAC-A")
	assert.Equal(t, m.RES, it.Authorization, "XRES")
	assert.Equal(t, m.CK, it.ConfidentialityKey)
	assert.Equal(t, m.IK, it.IntegrityKey)
	return sqn
}

type syncWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
