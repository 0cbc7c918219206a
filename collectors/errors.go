package collectors

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// SourceError says which kernel source could not be read and how to fix
// it. Its Is method maps errnos to the sentinels callers test for:
// EPERM/EACCES match fs.ErrPermission; EOPNOTSUPP, ENOTSUP, ENODEV, ENOENT
// and EPROTONOSUPPORT match errors.ErrUnsupported (and ENOENT also
// fs.ErrNotExist), so a driver or kernel without the feature is "not
// supported", not a failure.
type SourceError struct {
	// Source names what was read: "/proc/net/netstat", "ethtool eth0 rings".
	Source string
	Err    error
	// Fix tells the user how to make the source readable, when there is a way.
	Fix string
	// Capability names the capability that lets netdx read the source
	// ("CAP_SYS_ADMIN"), when permission was refused; see neededCapability.
	Capability string
}

var _ error = (*SourceError)(nil)

func (e *SourceError) Error() string { return fmt.Sprintf("%s: %v", e.Source, e.Err) }

// Unwrap returns the underlying error.
func (e *SourceError) Unwrap() error { return e.Err }

// Is maps the underlying errno to fs.ErrPermission, errors.ErrUnsupported
// and fs.ErrNotExist.
func (e *SourceError) Is(target error) bool {
	var errno syscall.Errno
	if !errors.As(e.Err, &errno) {
		return false
	}
	switch target {
	case fs.ErrPermission:
		return errno == syscall.EPERM || errno == syscall.EACCES
	case errors.ErrUnsupported:
		switch errno {
		case syscall.EOPNOTSUPP, syscall.ENODEV, syscall.ENOENT, syscall.EPROTONOSUPPORT:
			return true
		}
	case fs.ErrNotExist:
		return errno == syscall.ENOENT || errno == syscall.ENODEV
	}
	return false
}

// Skip records a source that was not read.
type Skip struct {
	Source string
	// Kind is one of the Skip kinds below.
	Kind    SkipKind
	Message string
	Fix     string
	// Capability would have let netdx read the source, for SkipPermission.
	Capability string
}

// SkipKind says why a source was skipped.
type SkipKind string

// Skip kinds: the user lacks a privilege, the kernel or driver does not
// offer the source, the file is not there on this kernel, or reading failed.
const (
	SkipPermission  SkipKind = "permission"
	SkipUnsupported SkipKind = "unsupported"
	SkipAbsent      SkipKind = "absent"
	SkipError       SkipKind = "error"
)

// skipFor classifies err into a Skip for source.
func skipFor(source string, err error) Skip {
	s := Skip{Source: source, Kind: SkipError, Message: err.Error()}
	var se *SourceError
	if errors.As(err, &se) {
		s.Source, s.Fix = se.Source, se.Fix
		s.Message = se.Err.Error()
	}
	var pe *ParseError
	switch {
	case errors.As(err, &pe):
		s.Source, s.Message = pe.Path, pe.Error()
		if s.Fix == "" {
			s.Fix = fixMalformed
		}
	case errors.Is(err, fs.ErrPermission):
		s.Kind = SkipPermission
		s.Capability = neededCapability(se, s.Source)
		if s.Fix == "" {
			s.Fix = grantFix(s.Capability)
		}
	case errors.Is(err, fs.ErrNotExist):
		s.Kind = SkipAbsent
	case errors.Is(err, errors.ErrUnsupported):
		s.Kind = SkipUnsupported
	}
	return s
}

// ParseError says where a kernel file did not have the form netdx expects:
// the file and the line, so the user can look at it and report it.
type ParseError struct {
	Path string
	// Line is 1-based; 0 when the file as a whole is at fault.
	Line int
	Msg  string
}

var _ error = (*ParseError)(nil)

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("malformed %s line %d: %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("malformed %s: %s", e.Path, e.Msg)
}

// parseErr builds a ParseError for path at line.
func parseErr(path string, line int, format string, a ...any) error {
	return &ParseError{Path: path, Line: line, Msg: fmt.Sprintf(format, a...)}
}

// fixMalformed is the fix offered for a file netdx could not parse.
const fixMalformed = "netdx does not understand this file's format; please report it with the file's content"

// notOffered is an error for a source this host does not offer; it
// matches errors.ErrUnsupported and reads as its message alone.
type notOffered string

func (e notOffered) Error() string { return string(e) }

// Is makes notOffered match errors.ErrUnsupported.
func (e notOffered) Is(target error) bool { return target == errors.ErrUnsupported }
