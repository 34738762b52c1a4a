package main

import (
	"bufio"
	"strings"
	"testing"
)

func TestParseProcNetTCP(t *testing.T) {
	text := "  sl  local_address rem_address   st\n" +
		"   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000\n" +
		"   1: 0100007F:1F90 0100007F:A1B2 01 00000000:00000000\n"
	got := parseProcNetTCP(bufio.NewScanner(strings.NewReader(text)), "tcp4")
	want := "127.0.0.1"
	if !littleEndian() {
		want = "1.0.0.127"
	}
	if len(got) != 1 || got[0].Port != 3000 || got[0].Address != want {
		t.Fatalf("parsed %+v", got)
	}
	text6 := "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A\n"
	got = parseProcNetTCP(bufio.NewScanner(strings.NewReader(text6)), "tcp6")
	if littleEndian() && (len(got) != 1 || got[0].Address != "::1" || got[0].Port != 8080) {
		t.Fatalf("parsed %+v", got)
	}
}
