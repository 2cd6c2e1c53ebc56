"""Runs ../shared/kube-emu's podman_kubelet.py with one fix to its informer cache: a deleted object stays deleted.

The kubelet's informers write the answers to their own writes through to the cache, so that a sync does not act
on a cache that lags behind. The answer to the kubelet's final `DELETE pods/NAME` (grace 0) is the pod as it was
deleted, still with its `deletionTimestamp`, and `Informer.put` stores such an object as live. When the watch's
`DELETED` event for it was handled first (both arrive together; which one is read first is chance), the put
brings the pod back into the cache, where nothing ever removes it: the StatefulSet controller then sees the pod
as present (terminating) and never recreates it, and the kubelet keeps asking to delete it (404). Seen in CI: a
JumpnetCluster stuck for good at "waiting for e2e-0 to restart" after the operator deleted two pods at once; the
emulator alone reproduces it (a Parallel StatefulSet with `--fake`, two pods deleted together, a few rounds).

The fix is what client-go's informers do in effect: an object is never resurrected by an event or write-through
that is not newer than its deletion (same uid, resourceVersion not above the one it was deleted at). A new pod of
the same name has another uid and is not affected.

    python kubelet_tombstones.py KUBE_EMU_DIR [podman_kubelet.py's arguments...]
"""

from __future__ import annotations

import sys


def patch(pk) -> None:
    informer = pk.Informer
    original = informer.apply

    def apply(self, etype, o):
        gone = self.__dict__.setdefault("_tombstones", {})
        k = self.key(o)
        uid = (o.get("metadata") or {}).get("uid")
        if etype == "DELETED":
            gone[k] = (uid, self.rv(o))
        else:
            tomb = gone.get(k)
            if tomb is not None and tomb[0] == uid and self.rv(o) <= tomb[1]:
                return
        original(self, etype, o)

    informer.apply = apply


def main() -> None:
    sys.path.insert(0, sys.argv[1])
    import podman_kubelet  # noqa: PLC0415 - the emulator's directory is only known at run time

    patch(podman_kubelet)
    podman_kubelet.main(sys.argv[2:])


if __name__ == "__main__":
    main()
