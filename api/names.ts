/** The daemon's D-Bus names: the one API every client uses. */
export const BUS_NAME = 'org.hiboss.Daemon1';
export const OBJECT_PATH = '/org/hiboss/Daemon1';
export const INTERFACE = 'org.hiboss.Daemon1';

/** D-Bus error names the daemon replies with. */
export const Errors = {
  NoSuchVm: 'org.hiboss.Daemon1.Error.NoSuchVm',
  InvalidArgument: 'org.hiboss.Daemon1.Error.InvalidArgument',
  Failed: 'org.hiboss.Daemon1.Error.Failed',
} as const;
