# waybar's custom/hiboss module: the bar-module prints one JSON status line per
# change; a click toggles the focused workspace's VM.
{ hiboss ? "hiboss" }:
{
  exec = "${hiboss} bar";
  return-type = "json";
  on-click = "${hiboss} toggle";
  tooltip = true;
}
