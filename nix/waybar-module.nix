# waybar's custom/hiboss module: the bar-module prints one JSON status line per
# change. The same module as bar-module/waybar-module.jsonc, clicks and all: a
# test (test/bar/vocabulary.test.ts) holds both to bar-module/clicks.ts CLICKS.
{ hiboss ? "hiboss", terminal ? "foot" }:
{
  exec = "${hiboss} bar";
  return-type = "json";
  format = "{}";
  escape = false;
  tooltip = true;
  restart-interval = 5;
  on-click = "${hiboss} toggle";
  on-click-middle = "${hiboss} hibernate";
  on-click-right = "${terminal} -e ${hiboss} panel";
  on-scroll-up = "${hiboss} next";
  on-scroll-down = "${hiboss} prev";
}
