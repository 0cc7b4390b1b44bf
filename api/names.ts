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

/**
 * The interface's members and their D-Bus signatures: the daemon serves exactly
 * these (and test fakes mirror them). A fresh object per call, because dbus-next's
 * configureMembers writes into the table it is given.
 */
export function daemonInterfaceMembers() {
  return {
    properties: {
      Version: { signature: 's', access: 'read' as const },
      // The config file the daemon reads: `hiboss join` writes to that one.
      ConfigPath: { signature: 's', access: 'read' as const },
    },
    methods: {
      Status: { outSignature: 's' },
      Start: { inSignature: 's', outSignature: 's' },
      Stop: { inSignature: 's', outSignature: 's' },
      Pause: { inSignature: 's', outSignature: 's' },
      Resume: { inSignature: 's', outSignature: 's' },
      Restart: { inSignature: 's', outSignature: 's' },
      Reload: { outSignature: 'as' },
      Act: { inSignature: 'ss', outSignature: 's' },
      Log: { inSignature: 'su', outSignature: 'as' },
      Diagnostics: { outSignature: 's' },
      // Flake VMs' generations and updates.
      Generations: { inSignature: 's', outSignature: 's' },
      Update: { inSignature: 'sb', outSignature: 's' },
      ApproveUpdate: { inSignature: 'sb', outSignature: 's' },
      Rollback: { inSignature: 'sub', outSignature: 's' },
      // Backups: run one now, list the restore points (JSON), restore one ('' = the latest).
      Backup: { inSignature: 's', outSignature: 's' },
      Backups: { inSignature: 's', outSignature: 's' },
      Restore: { inSignature: 'ss', outSignature: 's' },
      // Members: the VM's published public identity (JSON), for a join request.
      Identity: { inSignature: 's', outSignature: 's' },
      // Sound and clipboard: pin|unpin the microphone ('' = the focused VM); clip to|from a VM.
      Microphone: { inSignature: 'ss', outSignature: 's' },
      Clipboard: { inSignature: 'ss', outSignature: 's' },
    },
    signals: {
      StateChanged: { signature: 'sss' },
      FocusChanged: { signature: 'ss' },
      ConfigChanged: { signature: 'bas' },
      VmLog: { signature: 'ss' },
      UpdateEvent: { signature: 'sss' },
      BackupChanged: { signature: 'sss' },
      /** The VM that hears the member ('' = nobody), and whether it is pinned. */
      MicrophoneChanged: { signature: 'sb' },
    },
  };
}
