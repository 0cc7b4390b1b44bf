#!/usr/bin/python3
"""A stand-in for systemd-logind on a private system bus, for tests (test/harness/logind-double.ts).

It serves what hiboss uses of org.freedesktop.login1: Manager.Inhibit (a real
file descriptor: the read end of a pipe whose hang-up means "released"),
GetSession, GetUser, InhibitDelayMaxUSec, PrepareForSleep; one session with
Lock/Unlock and LockedHint; the user's Display. Written with dbus-python because
it passes file descriptors without native add-ons (dbus-next needs `usocket`).

stdin, one command a line: sleep | wake | lock | unlock | hint 0|1
stdout, one event a line: ready | inhibit WHAT WHO MODE | released WHO | slept released MS | slept timeout MS | slept at-once
"""
import os
import sys
import time

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
BUS = dbus.bus.BusConnection(os.environ['DBUS_SYSTEM_BUS_ADDRESS'])
MANAGER = 'org.freedesktop.login1.Manager'
SESSION = 'org.freedesktop.login1.Session'
USER = 'org.freedesktop.login1.User'
PROPS = 'org.freedesktop.DBus.Properties'
SESSION_ID = os.environ.get('LOGIND_DOUBLE_SESSION', 'c1')
SESSION_PATH = '/org/freedesktop/login1/session/' + SESSION_ID
DELAY_USEC = int(os.environ.get('LOGIND_DOUBLE_DELAY_USEC', '5000000'))


def say(*words):
    print(' '.join(str(w) for w in words), flush=True)


class Props(dbus.service.Object):
    """org.freedesktop.DBus.Properties over a dict per interface."""

    def __init__(self, path, props):
        super().__init__(BUS, path)
        self.props = props

    @dbus.service.method(PROPS, in_signature='ss', out_signature='v')
    def Get(self, iface, name):
        return self.props[iface][name]

    @dbus.service.method(PROPS, in_signature='s', out_signature='a{sv}')
    def GetAll(self, iface):
        return self.props.get(iface, {})

    @dbus.service.signal(PROPS, signature='sa{sv}as')
    def PropertiesChanged(self, iface, changed, invalidated):
        pass

    def set(self, iface, name, value):
        self.props[iface][name] = value
        self.PropertiesChanged(iface, {name: value}, [])


class Manager(Props):
    def __init__(self):
        super().__init__('/org/freedesktop/login1', {MANAGER: {'InhibitDelayMaxUSec': dbus.UInt64(DELAY_USEC)}})
        self.open_delays = 0
        self.sleep_started = None
        self.sleep_timer = None

    @dbus.service.method(MANAGER, in_signature='ssss', out_signature='h')
    def Inhibit(self, what, who, why, mode):
        read_end, write_end = os.pipe()
        if mode == 'delay':
            self.open_delays += 1

        def hang_up(fd, condition):
            os.close(fd)
            say('released', who)
            if mode == 'delay':
                self.open_delays -= 1
                if self.open_delays == 0 and self.sleep_started is not None:
                    self.slept('released')
            return False

        GLib.io_add_watch(read_end, GLib.IO_HUP | GLib.IO_ERR, hang_up)
        say('inhibit', what, who, mode)
        fd = dbus.types.UnixFd(write_end)
        os.close(write_end)
        return fd

    @dbus.service.method(MANAGER, in_signature='s', out_signature='o')
    def GetSession(self, session_id):
        if session_id != SESSION_ID:
            raise dbus.exceptions.DBusException('No session ' + session_id, name='org.freedesktop.login1.NoSuchSession')
        return dbus.ObjectPath(SESSION_PATH)

    @dbus.service.method(MANAGER, in_signature='u', out_signature='o')
    def GetUser(self, uid):
        return dbus.ObjectPath('/org/freedesktop/login1/user/_%d' % uid)

    @dbus.service.signal(MANAGER, signature='b')
    def PrepareForSleep(self, start):
        pass

    def sleep(self):
        self.PrepareForSleep(True)
        if self.open_delays == 0:
            say('slept', 'at-once', 0)
            return
        self.sleep_started = time.monotonic()
        self.sleep_timer = GLib.timeout_add(DELAY_USEC // 1000, lambda: self.slept('timeout') and False)

    def slept(self, how):
        ms = int((time.monotonic() - self.sleep_started) * 1000)
        self.sleep_started = None
        if self.sleep_timer is not None:
            GLib.source_remove(self.sleep_timer)
            self.sleep_timer = None
        say('slept', how, ms)
        return False


class Session(Props):
    def __init__(self):
        super().__init__(SESSION_PATH, {SESSION: {'LockedHint': dbus.Boolean(False), 'Id': SESSION_ID}})

    @dbus.service.signal(SESSION, signature='')
    def Lock(self):
        pass

    @dbus.service.signal(SESSION, signature='')
    def Unlock(self):
        pass


class User(Props):
    def __init__(self, uid):
        super().__init__('/org/freedesktop/login1/user/_%d' % uid,
                         {USER: {'Display': dbus.Struct((SESSION_ID, dbus.ObjectPath(SESSION_PATH)), signature='so')}})


name = dbus.service.BusName('org.freedesktop.login1', BUS)
manager = Manager()
session = Session()
user = User(os.getuid())


def command(source, condition):
    line = sys.stdin.readline()
    if not line:
        GLib.MainLoop().quit()
        os._exit(0)
    words = line.split()
    if words == ['sleep']:
        manager.sleep()
    elif words == ['wake']:
        manager.PrepareForSleep(False)
    elif words == ['lock']:
        session.Lock()
    elif words == ['unlock']:
        session.Unlock()
    elif len(words) == 2 and words[0] == 'hint':
        session.set(SESSION, 'LockedHint', dbus.Boolean(words[1] == '1'))
    else:
        say('unknown', line.strip())
    return True


GLib.io_add_watch(sys.stdin.fileno(), GLib.IO_IN | GLib.IO_HUP, command)
say('ready')
GLib.MainLoop().run()
