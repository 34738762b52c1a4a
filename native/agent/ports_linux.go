package main

import (
	"bufio"
	"encoding/hex"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"unsafe"
)

const portsSupported = true

// listeningPorts reads the TCP sockets in state LISTEN (0A) from /proc/net/tcp and tcp6.
func listeningPorts() ([]listeningPort, error) {
	var out []listeningPort
	seen := map[listeningPort]bool{}
	for _, f := range []struct{ path, family string }{{"/proc/net/tcp", "tcp4"}, {"/proc/net/tcp6", "tcp6"}} {
		file, err := os.Open(f.path)
		if os.IsNotExist(err) {
			continue // no IPv6 in this kernel
		}
		if err != nil {
			return nil, err
		}
		ports := parseProcNetTCP(bufio.NewScanner(file), f.family)
		file.Close()
		for _, p := range ports {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Port != out[j].Port {
			return out[i].Port < out[j].Port
		}
		return out[i].Address < out[j].Address
	})
	return out, nil
}

// parseProcNetTCP reads lines like
//
//	sl local_address rem_address st …
//	0: 0100007F:0BB8 00000000:0000 0A …
func parseProcNetTCP(sc *bufio.Scanner, family string) []listeningPort {
	var out []listeningPort
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[3] != "0A" {
			continue
		}
		i := strings.IndexByte(fields[1], ':')
		if i < 0 {
			continue
		}
		port, err := strconv.ParseUint(fields[1][i+1:], 16, 16)
		if err != nil {
			continue
		}
		ip, ok := procIP(fields[1][:i])
		if !ok {
			continue
		}
		out = append(out, listeningPort{Port: int(port), Address: ip.String(), Family: family})
	}
	return out
}

// procIP decodes the kernel's hex address: each 32-bit word is printed as a number in the
// machine's byte order.
func procIP(h string) (net.IP, bool) {
	b, err := hex.DecodeString(h)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return nil, false
	}
	if littleEndian() {
		for w := 0; w < len(b); w += 4 {
			b[w], b[w+1], b[w+2], b[w+3] = b[w+3], b[w+2], b[w+1], b[w]
		}
	}
	return net.IP(b), true
}

func littleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}
