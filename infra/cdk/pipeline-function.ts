import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** The repository root: entries, package-lock.json and node_modules live here. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Files a bundle cannot hold, copied beside it, where the code finds them at run time exactly as
 * it does in the repository: a package resolved by name (`createRequire`, a bare import) under
 * `node_modules/`, or a folder read relative to `import.meta.url`.
 */
export interface BundledFiles {
  /** a folder of the repository, e.g. `node_modules/@echogarden/espeak-ng-emscripten` or `shared/story/prompts` */
  from: string;
  /** where it lands beside the bundle; default the same path as `from` */
  to?: string;
  /** only these files (relative to `from`); default the whole folder */
  files?: string[];
  /** files (relative to `from`) made executable by everyone: Lambda runs code as a non-owner user */
  executables?: string[];
}

/** Every function of the stack, by the name the tests and the README use (shared/resources/functions.ts). */
export type { PipelineFunctionName } from '../../shared/resources/functions.js';

export interface PipelineFunctionProps {
  /** the handler's entry, relative to the repository root, e.g. `lambdas/api/index.ts` */
  entry: string;
  description: string;
  memorySize: number;
  timeout: Duration;
  architecture: lambda.Architecture;
  environment: Record<string, string>;
  logRetention: logs.RetentionDays;
  /** packages (kept out of the bundle) and data folders copied beside it */
  files?: BundledFiles[];
  /** /tmp size (MB), default 512 */
  ephemeralStorageMb?: number;
}

/**
 * One handler as a Lambda function: bundled by the local esbuild (no Docker) as one ESM file,
 * its own role (no managed policy: the stack grants each statement), its own log group with a
 * retention, X-Ray tracing on.
 *
 * ESM, because the shared code uses `import.meta.url` (the renderer resolves ffmpeg and the fonts
 * with `createRequire(import.meta.url)`) and the eSpeak package is ESM only; the banner gives
 * CommonJS dependencies a `require` for the Node built-ins they load.
 */
export class PipelineFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    super(scope, id);
    const files = props.files ?? [];
    if (Stack.of(this).bundlingRequired) {
      for (const f of files) {
        for (const file of f.files ?? ['.']) {
          if (!existsSync(path.join(PROJECT_ROOT, f.from, file))) {
            throw new Error(
              `${id}: ${path.join(f.from, file)} is missing, so it cannot be bundled. Run "npm ci" (on Linux x64 for the ` +
                'static ffmpeg and ffprobe, which are platform packages), or deploy with -c exporter=http.',
            );
          }
        }
      }
    }

    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.description} (reel-pipeline)`,
    });
    this.logGroup.grantWrite(this.role);

    this.fn = new NodejsFunction(this, 'Function', {
      entry: path.join(PROJECT_ROOT, props.entry),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: props.architecture,
      memorySize: props.memorySize,
      timeout: props.timeout,
      ephemeralStorageSize: props.ephemeralStorageMb ? Size.mebibytes(props.ephemeralStorageMb) : undefined,
      description: props.description,
      role: this.role,
      logGroup: this.logGroup,
      tracing: lambda.Tracing.ACTIVE,
      environment: { LOG_LEVEL: 'info', ...props.environment },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        minify: true,
        keepNames: true,
        sourceMap: false,
        // The SDK is bundled too: the versions the tests ran, not whatever the runtime ships.
        externalModules: files.filter((f) => f.from.startsWith('node_modules/')).map((f) => f.from.slice('node_modules/'.length)),
        banner: "import { createRequire as __reelCreateRequire } from 'node:module'; const require = __reelCreateRequire(import.meta.url);",
        logLevel: LogLevel.WARNING,
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (inputDir: string, outputDir: string) => copyCommands(files, inputDir, outputDir),
        },
      },
    });
  }
}

const quote = (p: string) => `'${p.replace(/'/g, `'\\''`)}'`;

/** Shell commands (run by the local bundler with bash) that copy each folder beside the bundle. */
export function copyCommands(files: BundledFiles[], inputDir: string, outputDir: string): string[] {
  const commands: string[] = [];
  for (const f of files) {
    const from = path.join(inputDir, f.from);
    const to = path.join(outputDir, f.to ?? f.from);
    if (f.files) {
      for (const file of f.files) {
        commands.push(`mkdir -p ${quote(path.dirname(path.join(to, file)))}`, `cp ${quote(path.join(from, file))} ${quote(path.join(to, file))}`);
      }
    } else {
      commands.push(`mkdir -p ${quote(path.dirname(to))}`, `cp -R ${quote(from)} ${quote(to)}`);
    }
    for (const file of f.executables ?? []) commands.push(`chmod 755 ${quote(path.join(to, file))}`);
  }
  // Lambda reads the code as another user than the owner: everything world-readable.
  if (files.length) commands.push(`chmod -R a+rX ${quote(outputDir)}`);
  return commands;
}
