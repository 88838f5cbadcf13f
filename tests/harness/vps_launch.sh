#!/bin/sh
# Launcher of one test VPS (see tests/harness/vps.py, which prepares HOSTDIR and runs:
#   nsenter --net=/run/netns/NAME unshare --mount --uts --ipc --propagation private -- \
#       /bin/sh vps_launch.sh HOSTDIR NAME DOCKERD_ARGS...
# ).  Inside the fresh mount namespace it builds the host's root file system as a
# copy-on-write overlay of this machine's / (upper layer HOSTDIR/upper), gives it a
# private /run (HOSTDIR/run: the engine socket lives there, reachable from the root
# namespace), /tmp, /var/tmp and /var/lib/docker (HOSTDIR/docker), pivots into it,
# starts dockerd in the background and finally becomes sshd, so that this one process
# (the launcher PID) is the host's sshd and the parent of its dockerd.
set -eu

H=$1
NAME=$2
shift 2
R="$H/rootfs"

exec 3>>"$H/dockerd.log"

# volatile: the upper layer is thrown away, so unmounting need not sync the disk (~1 s)
mount -t overlay overlay -o "lowerdir=/,upperdir=$H/upper,workdir=$H/work,volatile" "$R"
mount --rbind /dev "$R/dev"
mount --rbind /proc "$R/proc"
mount --rbind /sys "$R/sys"
mount --bind "$H/run" "$R/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/tmp"
mount --bind "$H/vartmp" "$R/var/tmp"
mkdir -p "$R/var/lib/docker"
mount --bind "$H/docker" "$R/var/lib/docker"

cd "$R"
mkdir -p .oldroot
pivot_root . .oldroot
cd /
umount -l /.oldroot
rmdir /.oldroot

hostname "$NAME"

dockerd "$@" </dev/null >&3 2>&3 &
exec 3>&-
exec /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config
