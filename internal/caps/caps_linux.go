//go:build linux

package caps

import "golang.org/x/sys/unix"

// Effective returns the effective capability set of the calling thread
// (every thread of netdx has the same). It asks the kernel with capget(2).
func Effective() (Set, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, err
	}
	return Set(uint64(data[1].Effective)<<32 | uint64(data[0].Effective)), nil
}
