"""Cost of a cheap call into the library's C ABI from Python through ctypes
(lcd_version, and lcd_client_list on an empty namespace), loading the library
directly. Prints one JSON object on stdout.

Usage: boundary.py LIBRARY SOCKET STATE_DIR NAMESPACE ITERS
"""
import ctypes
import json
import statistics
import sys
import time


class Backend(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("user_data", ctypes.c_void_p),
        ("state_changed", ctypes.c_void_p),
        ("attach_streams", ctypes.c_void_p),
        ("user_data_free", ctypes.c_void_p),
    ]


def main():
    lib_path, socket, state_dir, namespace, iters = sys.argv[1:6]
    iters = int(iters)
    lib = ctypes.CDLL(lib_path)
    lib.lcd_version.restype = ctypes.c_char_p
    lib.lcd_version.argtypes = []
    lib.lcd_error_message.restype = ctypes.c_char_p
    lib.lcd_error_message.argtypes = [ctypes.c_void_p]
    for name in ("lcd_remote_new", "lcd_remote_client", "lcd_client_list"):
        getattr(lib, name).restype = ctypes.c_void_p
    lib.lcd_remote_new.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
    lib.lcd_remote_client.argtypes = [ctypes.c_void_p, ctypes.POINTER(Backend), ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
    lib.lcd_client_list.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
    lib.lcd_string_free.argtypes = [ctypes.c_void_p]
    lib.lcd_client_free.argtypes = [ctypes.c_void_p]
    lib.lcd_remote_free.argtypes = [ctypes.c_void_p]

    def check(err, what):
        if err:
            sys.exit(f"{what}: {lib.lcd_error_message(err).decode()}")

    opts = json.dumps({"remote_addr": socket, "start_daemon": False, "state_dir": state_dir, "namespace": namespace})
    remote = ctypes.c_void_p()
    check(lib.lcd_remote_new(opts.encode(), ctypes.byref(remote), None), "remote")
    backend = Backend(ctypes.sizeof(Backend), None, None, None, None)
    client = ctypes.c_void_p()
    check(lib.lcd_remote_client(remote, ctypes.byref(backend), ctypes.byref(client), None), "client")

    version = lib.lcd_version
    list_ = lib.lcd_client_list
    free = lib.lcd_string_free

    def per_call(n, f):
        v = []
        for _ in range(7):
            t0 = time.perf_counter_ns()
            f(n)
            v.append((time.perf_counter_ns() - t0) / n)
        return statistics.median(v)

    def versions(n):
        for _ in range(n):
            version()

    def lists(n):
        out = ctypes.c_void_p()
        ref = ctypes.byref(out)
        for _ in range(n):
            check(list_(client, ref, None), "list")
            if ctypes.string_at(out.value) != b"[]":
                sys.exit("namespace not empty")
            free(out)

    def empty(n):
        for _ in range(n):
            pass

    result = {
        "version_ns": per_call(iters * 20, versions),
        "list_ns": per_call(iters, lists),
        "loop_ns": per_call(iters * 20, empty),
    }
    lib.lcd_client_free(client)
    lib.lcd_remote_free(remote)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
