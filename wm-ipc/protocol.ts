/**
 * The i3 IPC protocol with sway's extensions: message and event numbers, and the
 * shapes of replies and events. No sockets here (see connection.ts / client.ts).
 *
 * Reply and event schemas name the fields hiboss relies on and keep every other
 * field (loose objects): the WMs add fields between versions, and the
 * debugging verbs print replies whole.
 */
import { z } from 'zod';

export const MessageType = {
  RUN_COMMAND: 0,
  GET_WORKSPACES: 1,
  SUBSCRIBE: 2,
  GET_OUTPUTS: 3,
  GET_TREE: 4,
  GET_MARKS: 5,
  GET_BAR_CONFIG: 6,
  GET_VERSION: 7,
  GET_BINDING_MODES: 8,
  GET_CONFIG: 9,
  SEND_TICK: 10,
  SYNC: 11,
  GET_BINDING_STATE: 12,
  /** sway only */
  GET_INPUTS: 100,
  /** sway only */
  GET_SEATS: 101,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Event numbers have the high bit set; the low bits name the event. */
export const EVENT_BIT = 0x8000_0000;

export const EventType = {
  workspace: 0,
  output: 1,
  mode: 2,
  window: 3,
  barconfig_update: 4,
  binding: 5,
  shutdown: 6,
  tick: 7,
  /** sway only */
  bar_state_update: 0x14,
  /** sway only */
  input: 0x15,
} as const;
export type EventName = keyof typeof EventType;
export const EVENT_NAMES = Object.keys(EventType) as EventName[];

const eventNameByNumber = new Map<number, EventName>(
  EVENT_NAMES.map((name) => [EventType[name], name]),
);

export function eventNameOf(type: number): EventName | undefined {
  return eventNameByNumber.get((type & ~EVENT_BIT) >>> 0);
}

export function isEventName(name: string): name is EventName {
  return Object.hasOwn(EventType, name);
}

/** A string union that still accepts values a newer WM may send. */
type Open<T extends string> = T | (string & {});

const Rect = z.looseObject({ x: z.number(), y: z.number(), width: z.number(), height: z.number() });
export type Rect = z.infer<typeof Rect>;

export const CommandResult = z.looseObject({
  success: z.boolean(),
  parse_error: z.boolean().optional(),
  error: z.string().optional(),
});
export type CommandResult = z.infer<typeof CommandResult>;

export const Workspace = z.looseObject({
  id: z.number().optional(), // sway and i3 ≥ 4.19
  num: z.number(),
  name: z.string(),
  visible: z.boolean(),
  focused: z.boolean(),
  urgent: z.boolean(),
  rect: Rect,
  output: z.string(),
});
export type Workspace = z.infer<typeof Workspace>;

export const Output = z.looseObject({
  name: z.string(),
  active: z.boolean(),
  current_workspace: z.string().nullable(),
  rect: Rect,
});
export type Output = z.infer<typeof Output>;

export const WindowProperties = z.looseObject({
  class: z.string().nullish(),
  instance: z.string().nullish(),
  title: z.string().nullish(),
  window_role: z.string().nullish(),
});

/** A node of the layout tree (GET_TREE, window events): one declaration, the type inferred from it. */
export const Node = z.looseObject({
  id: z.number(),
  name: z.string().nullable(),
  type: z.string() as z.ZodType<Open<'root' | 'output' | 'workspace' | 'con' | 'floating_con' | 'dockarea'>>,
  focused: z.boolean(),
  /** sway: the client's pid; i3 X11 windows have none */
  pid: z.number().optional(),
  app_id: z.string().nullish(),
  window: z.number().nullish(),
  window_properties: WindowProperties.optional(),
  get nodes() {
    return z.array(Node).default([]);
  },
  get floating_nodes() {
    return z.array(Node).default([]);
  },
});
export type Node = z.infer<typeof Node>;

export const Version = z.looseObject({
  major: z.number(),
  minor: z.number(),
  patch: z.number(),
  human_readable: z.string(),
  loaded_config_file_name: z.string().optional(),
});
export type Version = z.infer<typeof Version>;

export const Success = z.looseObject({ success: z.boolean() });

export const BindingState = z.looseObject({ name: z.string() });

/** What each request returns, keyed by message type. Unparsed kinds stay `unknown`. */
export const ReplySchemas = {
  [MessageType.RUN_COMMAND]: z.array(CommandResult),
  [MessageType.GET_WORKSPACES]: z.array(Workspace),
  [MessageType.SUBSCRIBE]: Success,
  [MessageType.GET_OUTPUTS]: z.array(Output),
  [MessageType.GET_TREE]: Node,
  [MessageType.GET_MARKS]: z.array(z.string()),
  [MessageType.GET_BAR_CONFIG]: z.unknown(),
  [MessageType.GET_VERSION]: Version,
  [MessageType.GET_BINDING_MODES]: z.array(z.string()),
  [MessageType.GET_CONFIG]: z.looseObject({ config: z.string() }),
  [MessageType.SEND_TICK]: Success,
  [MessageType.SYNC]: Success,
  [MessageType.GET_BINDING_STATE]: BindingState,
  [MessageType.GET_INPUTS]: z.array(z.looseObject({ identifier: z.string(), name: z.string(), type: z.string() })),
  [MessageType.GET_SEATS]: z.array(z.looseObject({ name: z.string() })),
} satisfies Record<MessageType, z.ZodType>;
export type Reply<T extends MessageType> = z.infer<(typeof ReplySchemas)[T]>;

// ---- events -----------------------------------------------------------------

/**
 * In events, workspaces come as tree nodes: no `visible`, and i3 omits `output`.
 * Only the fields read are kept (a plain object, not a loose one): the node carries
 * ~25 more (rect, nodes, focus, …) that a loose schema copies at every switch —
 * about 8× the cost of the parse of these six.
 */
export const WorkspaceNode = z.object({
  id: z.number(),
  name: z.string(),
  num: z.number().optional(),
  type: z.string(),
  focused: z.boolean(),
  output: z.string().optional(),
});
export type WorkspaceNode = z.infer<typeof WorkspaceNode>;

export const WorkspaceEvent = z.object({
  change: z.string() as z.ZodType<Open<'init' | 'empty' | 'focus' | 'move' | 'rename' | 'urgent' | 'reload' | 'restored'>>,
  current: WorkspaceNode.nullish(),
  old: WorkspaceNode.nullish(),
});
export const OutputEvent = z.looseObject({ change: z.string() as z.ZodType<Open<'unspecified'>> });
export const ModeEvent = z.looseObject({ change: z.string(), pango_markup: z.boolean().optional() });
export const WindowEvent = z.looseObject({
  change: z.string() as z.ZodType<
    Open<'new' | 'close' | 'focus' | 'title' | 'fullscreen_mode' | 'move' | 'floating' | 'urgent' | 'mark'>
  >,
  container: Node,
});
export const BarconfigUpdateEvent = z.looseObject({ id: z.string() });
export const BindingEvent = z.looseObject({
  change: z.string() as z.ZodType<Open<'run'>>,
  binding: z.looseObject({
    command: z.string(),
    event_state_mask: z.array(z.string()).optional(),
    input_code: z.number().optional(),
    symbol: z.string().nullish(),
    input_type: z.string() as z.ZodType<Open<'keyboard' | 'mouse'>>,
  }),
});
export const ShutdownEvent = z.looseObject({ change: z.string() as z.ZodType<Open<'restart' | 'exit'>> });
export const TickEvent = z.looseObject({ first: z.boolean(), payload: z.string() });
export const BarStateUpdateEvent = z.looseObject({ id: z.string(), visible_by_modifier: z.boolean() });
export const InputEvent = z.looseObject({
  change: z.string() as z.ZodType<
    Open<'added' | 'removed' | 'xkb_keymap' | 'xkb_layout' | 'libinput_config'>
  >,
  input: z.looseObject({ identifier: z.string() }),
});

export const EventSchemas = {
  workspace: WorkspaceEvent,
  output: OutputEvent,
  mode: ModeEvent,
  window: WindowEvent,
  barconfig_update: BarconfigUpdateEvent,
  binding: BindingEvent,
  shutdown: ShutdownEvent,
  tick: TickEvent,
  bar_state_update: BarStateUpdateEvent,
  input: InputEvent,
} satisfies Record<EventName, z.ZodType>;

export type EventPayloads = { [K in EventName]: z.infer<(typeof EventSchemas)[K]> };
export type WorkspaceEvent = EventPayloads['workspace'];
export type WindowEvent = EventPayloads['window'];
export type BindingEvent = EventPayloads['binding'];
export type ShutdownEvent = EventPayloads['shutdown'];
