//go:build !linux

package main

const portsSupported = false

// listeningPorts is Linux-only (it reads /proc/net/tcp).
func listeningPorts() ([]listeningPort, error) { return nil, nil }
