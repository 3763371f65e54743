/**
 * The functions the state machine invokes — the one place that names them. For each function:
 * the `${Placeholder}` the state-machine definition uses for its ARN, and the Task state that
 * invokes it. The CDK stack fills the placeholders with the functions' ARNs, the embedded stack
 * with local ARNs, and the embedded test controls inject faults by state name; all three read
 * this table (test/unit/architecture-walls.test.ts checks it against the definition).
 */
const STATE_MACHINE_FUNCTION_TABLE = {
  start: { placeholder: 'StartFunctionArn', state: 'Start' },
  story: { placeholder: 'StoryFunctionArn', state: 'Story' },
  tts: { placeholder: 'TtsFunctionArn', state: 'Tts' },
  draft: { placeholder: 'DraftFunctionArn', state: 'Draft' },
  finalize: { placeholder: 'FinalizeFunctionArn', state: 'Finalize' },
} as const;

type Table = typeof STATE_MACHINE_FUNCTION_TABLE;
/** A function the state machine invokes, by its short name (`start`, `story`, …). */
export type StateMachineFunction = keyof Table;
/** The short names, in pipeline order. */
export const STATE_MACHINE_FUNCTION_NAMES = Object.keys(STATE_MACHINE_FUNCTION_TABLE) as StateMachineFunction[];

/** Each function's ARN placeholder in the definition, by short name. */
export const STATE_MACHINE_FUNCTIONS = Object.fromEntries(STATE_MACHINE_FUNCTION_NAMES.map((fn) => [fn, STATE_MACHINE_FUNCTION_TABLE[fn].placeholder])) as {
  [F in StateMachineFunction]: Table[F]['placeholder'];
};

/** The Task state that invokes each function, by short name. */
export const STATE_OF_FUNCTION = Object.fromEntries(STATE_MACHINE_FUNCTION_NAMES.map((fn) => [fn, STATE_MACHINE_FUNCTION_TABLE[fn].state])) as {
  [F in StateMachineFunction]: Table[F]['state'];
};

/**
 * Every function of the stack, by the name the tests, the IAM checks and the docs use: the API,
 * the S3 inbox trigger, the state machine's, the fail handler (no state invokes it: it receives
 * the execution-ended events, so that a failed execution stays failed at its stage and a redrive
 * re-runs that stage), the export worker, the export dead-letter consumer and the webhook delivery function (each is a
 * `lambdas/<folder>/`; `exportDlq` is `lambdas/export-dlq/`).
 */
export const PIPELINE_FUNCTION_NAMES = ['api', 'inbox', ...STATE_MACHINE_FUNCTION_NAMES, 'fail', 'export', 'exportDlq', 'webhook'] as const;
export type PipelineFunctionName = 'api' | 'inbox' | StateMachineFunction | 'fail' | 'export' | 'exportDlq' | 'webhook';

/** The placeholder of the export queue's URL (the Export state sends to it, it is no function). */
export const EXPORT_QUEUE_PLACEHOLDER = 'ExportQueueUrl';

/** Every `${Placeholder}` of the state-machine definition. */
export type DefinitionPlaceholder = Table[StateMachineFunction]['placeholder'] | typeof EXPORT_QUEUE_PLACEHOLDER;
/** Every `${Placeholder}` of the state-machine definition: the functions' ARNs, then the export queue. */
export const DEFINITION_PLACEHOLDERS: readonly DefinitionPlaceholder[] = [...Object.values(STATE_MACHINE_FUNCTIONS), EXPORT_QUEUE_PLACEHOLDER];
