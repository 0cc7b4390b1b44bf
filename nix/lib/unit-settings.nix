# The daemon's systemd user unit, in one place: packaging/systemd/hiboss.service
# states the same (test/nix/unit-settings.test.ts compares them), and the NixOS
# and home-manager modules build their units from this.
{
  description = "hiboss: VMs bound to sway/i3 workspaces";
  partOf = [ "graphical-session.target" ];
  after = [ "graphical-session.target" ];
  wantedBy = [ "graphical-session.target" ];
  # [Service] besides ExecStart. KillMode=process: VMs outlive a daemon restart
  # (the next daemon adopts them); only the daemon is stopped, not the QEMUs and
  # passts it started in the unit's cgroup.
  service = {
    Type = "exec";
    Restart = "on-failure";
    RestartSec = "2s";
    KillMode = "process";
  };
}
