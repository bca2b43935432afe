"""The job's syscall filter: a libseccomp program (via pyseccomp) that bwrap loads before exec.

Default allow, with the kernel surfaces a grading job never needs answered EPERM: new
namespaces (unshare, setns, clone/clone3 with namespace flags), mounts, ptrace and other
processes' memory, keyrings, bpf, perf, kernel modules, kexec, reboot, swap, clocks, io_uring,
userfaultfd, handle-based opens, and socket families other than unix/inet/inet6/netlink.
The program is compiled once per process.
"""

from __future__ import annotations

import errno
import functools
import os

# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME
NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 \
    | 0x20000000 | 0x40000000 | 0x00000080

FAMILIES = (1, 2, 10, 16)  # AF_UNIX, AF_INET, AF_INET6, AF_NETLINK: all socket() may make
MAX_FAMILY = max(FAMILIES)

DENIED = (
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_getfd",
    "kcmp", "keyctl", "add_key", "request_key", "bpf", "perf_event_open",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "reboot", "swapon", "swapoff", "syslog", "acct", "quotactl", "quotactl_fd",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "iopl", "ioperm",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd",
    "open_by_handle_at", "name_to_handle_at", "lookup_dcookie", "fanotify_init",
    "personality", "vhangup", "nfsservctl", "uselib", "sethostname", "setdomainname",
)


# memory no RSS shows: refused when no memory cgroup charges it (see grader/watchdog.py)
UNCOUNTED_MEMORY = ("memfd_create", "memfd_secret", "shmget")


@functools.cache
def program(strict: bool = False) -> bytes:
    """The compiled BPF program (bwrap's `--seccomp FD` format); strict: for jobs without a
    memory cgroup."""
    import pyseccomp as sc

    f = sc.SyscallFilter(defaction=sc.ALLOW)
    for name in DENIED + (UNCOUNTED_MEMORY if strict else ()):
        try:
            f.add_rule(sc.ERRNO(errno.EPERM), name)
        except (RuntimeError, ValueError, OSError):
            pass  # not a syscall on this architecture
    for bit in range(32):  # clone() with any namespace flag
        flag = 1 << bit
        if NAMESPACE_FLAGS & flag:
            f.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    # socket families: only unix, inet, inet6, netlink (AF_VSOCK is not network-namespaced:
    # it reaches the hypervisor host on a VM; the rest are rarely-used kernel code)
    sock = sc.ERRNO(errno.EAFNOSUPPORT)
    f.add_rule(sock, "socket", sc.Arg(0, sc.GT, MAX_FAMILY))
    for fam in range(MAX_FAMILY + 1):
        if fam not in FAMILIES:  # an int argument: compare its low 32 bits only
            f.add_rule(sock, "socket", sc.Arg(0, sc.MASKED_EQ, 0xFFFFFFFF, fam))
    # clone3 passes its flags in memory a filter cannot read: ENOSYS makes libc use clone()
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    fd = os.memfd_create("zg-seccomp")
    with os.fdopen(fd, "w+b") as buf:
        f.export_bpf(buf)
        buf.flush()
        buf.seek(0)
        return buf.read()


def program_fd(strict: bool = False) -> int:
    """A fresh inheritable pipe read end holding the program (bwrap reads it to EOF)."""
    data = program(strict)
    r, w = os.pipe()
    os.write(w, data)  # a few hundred bytes: fits in the pipe buffer
    os.close(w)
    os.set_inheritable(r, True)
    return r
