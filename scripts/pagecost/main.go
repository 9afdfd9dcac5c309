//go:build linux

// Command pagecost measures what a page of memory costs a process on this
// machine the first time it touches it (docs/performance.md, "Start-up"):
// an anonymous page through a page fault, the same page when the kernel
// maps it ahead (MADV_POPULATE_WRITE) and then the first touch, and a page
// of a file already in the page cache (the binary itself), touched one
// byte per 64 KiB as a program's code is, so that the kernel maps the
// pages around each fault. On a virtual machine these cost far more than
// on bare metal, and start-up time follows the number of pages a process
// maps rather than the number of faults it takes.
//
//	go run ./scripts/pagecost
package main

import (
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"
)

const (
	pages              = 4096
	page               = 4096
	madvPopulateWrite  = 23 // Linux 5.14
	faultAroundStride  = 64 << 10
	fileBytesToMeasure = 8 << 20
)

func anon() []byte {
	b, err := syscall.Mmap(-1, 0, pages*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pagecost:", err)
		os.Exit(1)
	}
	return b
}

func touch(b []byte, stride int) (time.Duration, int) {
	sum := 0
	start := time.Now()
	for i := 0; i < len(b); i += stride {
		b[i]++
		sum += int(b[i])
	}
	return time.Since(start), sum
}

func read(b []byte, stride int) (time.Duration, int) {
	sum := 0
	start := time.Now()
	for i := 0; i < len(b); i += stride {
		sum += int(b[i])
	}
	return time.Since(start), sum
}

func perPage(d time.Duration, n int) string {
	return fmt.Sprintf("%6.2f µs", float64(d.Nanoseconds())/float64(n)/1000)
}

func main() {
	checksum := 0

	b := anon()
	d, s := touch(b, page)
	checksum += s
	fmt.Printf("anonymous page, first touch (page fault):     %s per page\n", perPage(d, pages))
	d, s = touch(b, page)
	checksum += s
	fmt.Printf("anonymous page, second touch:                 %s per page\n", perPage(d, pages))

	b = anon()
	start := time.Now()
	if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), madvPopulateWrite); e != 0 {
		fmt.Printf("MADV_POPULATE_WRITE:                          not available (%v)\n", e)
	} else {
		fmt.Printf("anonymous page, mapped ahead by the kernel:   %s per page\n", perPage(time.Since(start), pages))
		d, s = touch(b, page)
		checksum += s
		fmt.Printf("  then its first touch (no fault):            %s per page\n", perPage(d, pages))
	}

	exe, err := os.Executable()
	if err == nil {
		var f *os.File
		if f, err = os.Open(exe); err == nil {
			defer f.Close()
			st, _ := f.Stat()
			n := min(int(st.Size()), fileBytesToMeasure) &^ (faultAroundStride - 1)
			if data, err := os.ReadFile(exe); err == nil { // into the page cache
				checksum += int(data[0])
			}
			if n > 0 {
				m, err := syscall.Mmap(int(f.Fd()), 0, n, syscall.PROT_READ, syscall.MAP_PRIVATE)
				if err == nil {
					d, s = read(m, faultAroundStride)
					checksum += s
					fmt.Printf("file page (cached), one touch per 64 KiB:     %s per fault, %s per page\n",
						perPage(d, n/faultAroundStride), perPage(d, n/page))
				}
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pagecost: file pages:", err)
	}
	fmt.Printf("(checksum %d)\n", checksum)
}
