/**
 * Memory and architecture of each Lambda function, read from the CDK stack (`infra/cdk/`) the way
 * CloudFormation would see it: synthesize the template and read every `AWS::Lambda::Function`'s
 * `MemorySize` and `Architectures`, matched to the pipeline's functions by logical id.
 *
 * Order: (1) synthesize now (`npm run synth -- -o <temp dir>`, or `npx cdk synth` when the script
 * is missing); (2) if that fails, an existing `cdk.out/*.template.json` (possibly stale, said so);
 * (3) if there is none, the sizes declared below, with a warning.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type FunctionName = 'api' | 'start' | 'story' | 'tts' | 'draft' | 'finalize' | 'fail' | 'export';

export interface LambdaConfig {
  memoryMb: number;
  architecture: 'arm64' | 'x86_64';
  logicalId?: string;
}

export interface LambdaConfigs {
  source: 'synthesized now' | 'existing cdk.out (may be stale)' | 'fallback declared in bench/lambda-memory.ts';
  detail: string;
  warning?: string;
  functions: Record<FunctionName, LambdaConfig>;
}

/** Logical id prefixes of the stack's functions (`infra/cdk/pipeline-stack.ts`). */
const LOGICAL_ID_PREFIX: Record<FunctionName, string> = {
  api: 'ApiFunction',
  start: 'StartFunction',
  story: 'StoryFunction',
  tts: 'TtsFunction',
  draft: 'DraftFunction',
  finalize: 'FinalizeFunction',
  fail: 'FailFunction',
  export: 'ExportFunction',
};

/**
 * Used only when no template can be had: the sizes the stack declared when this file was
 * last changed (2026-12-01), with the default settings (Lambda export worker, builtin renderer).
 */
export const FALLBACK_LAMBDA_CONFIGS: Record<FunctionName, LambdaConfig> = {
  api: { memoryMb: 1024, architecture: 'x86_64' },
  start: { memoryMb: 256, architecture: 'arm64' },
  story: { memoryMb: 512, architecture: 'x86_64' },
  tts: { memoryMb: 2048, architecture: 'arm64' },
  draft: { memoryMb: 1024, architecture: 'x86_64' },
  finalize: { memoryMb: 1024, architecture: 'arm64' },
  fail: { memoryMb: 256, architecture: 'arm64' },
  export: { memoryMb: 4096, architecture: 'x86_64' },
};

interface Template {
  Resources?: Record<string, { Type?: string; Properties?: { MemorySize?: number; Architectures?: string[] } }>;
}

/** Reads the functions of a synthesized template; throws when one of the pipeline's is missing. */
export function configsFromTemplate(template: Template): Record<FunctionName, LambdaConfig> {
  const functions = Object.entries(template.Resources ?? {}).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
  const out = {} as Record<FunctionName, LambdaConfig>;
  for (const [name, prefix] of Object.entries(LOGICAL_ID_PREFIX) as Array<[FunctionName, string]>) {
    // `ExportFunction…`, not `ExportDeadLetterFunction…`: the prefix is followed by the CDK hash.
    const found = functions.find(([id]) => new RegExp(`^${prefix}[0-9A-F]{8}$`).test(id));
    if (!found) throw new Error(`no AWS::Lambda::Function with logical id ${prefix}<hash> in the template`);
    const [logicalId, resource] = found;
    out[name] = {
      memoryMb: resource.Properties?.MemorySize ?? 128,
      architecture: resource.Properties?.Architectures?.includes('arm64') ? 'arm64' : 'x86_64',
      logicalId,
    };
  }
  return out;
}

function templatesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.template.json'))
    .map((f) => join(dir, f));
}

function fromTemplates(files: string[]): Record<FunctionName, LambdaConfig> {
  const errors: string[] = [];
  for (const file of files) {
    try {
      return configsFromTemplate(JSON.parse(readFileSync(file, 'utf8')) as Template);
    } catch (error: unknown) {
      errors.push(`${file}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  throw new Error(errors.join('; ') || 'no template');
}

/** The functions' memory and architecture, from the freshest source available. */
export function lambdaConfigs(options: { synth: boolean; projectRoot: string; log: (line: string) => void }): LambdaConfigs {
  const problems: string[] = [];
  if (options.synth) {
    const outDir = mkdtempSync(join(tmpdir(), 'reel-cost-synth-'));
    try {
      const pkg = JSON.parse(readFileSync(join(options.projectRoot, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
      const [command, args] = pkg.scripts?.synth
        ? ['npm', ['run', '--silent', 'synth', '--', '-o', outDir]]
        : ['npx', ['cdk', 'synth', '--no-notices', '-q', '-o', outDir]];
      options.log(`synthesizing the CDK stack (${command} ${args.join(' ')}) — this takes a minute or two…`);
      execFileSync(command, args, {
        cwd: options.projectRoot,
        env: { ...process.env, CDK_DISABLE_VERSION_CHECK: '1' },
        stdio: ['ignore', 'ignore', 'pipe'],
        timeout: 600_000,
      });
      return {
        source: 'synthesized now',
        detail: `${command} ${args.filter((a) => a !== '--' && a !== '-o' && a !== outDir).join(' ')} → ${templatesIn(outDir)
          .map((f) => f.split('/').pop())
          .join(', ')}`,
        functions: fromTemplates(templatesIn(outDir)),
      };
    } catch (error: unknown) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim().split('\n').slice(-3).join(' | ');
      problems.push(`synth failed: ${stderr || (error instanceof Error ? error.message : String(error))}`);
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  }
  const existing = templatesIn(join(options.projectRoot, 'cdk.out'));
  if (existing.length) {
    try {
      const functions = fromTemplates(existing);
      const age = Math.round((Date.now() - statSync(existing[0]).mtimeMs) / 60_000);
      return {
        source: 'existing cdk.out (may be stale)',
        detail: `${existing.map((f) => f.split('/').pop()).join(', ')}, written ${age} min ago`,
        warning: problems.length ? `could not synthesize (${problems.join('; ')}); read the existing template instead` : undefined,
        functions,
      };
    } catch (error: unknown) {
      problems.push(`cdk.out: ${error instanceof Error ? error.message : String(error)}`);
    }
  } else {
    problems.push('no cdk.out/*.template.json');
  }
  return {
    source: 'fallback declared in bench/lambda-memory.ts',
    detail: 'memory sizes as the stack declared them on 2026-11-27',
    warning: `WARNING: the CDK stack's template could not be read (${problems.join('; ')}). Using the memory sizes declared in bench/lambda-memory.ts; they may no longer match infra/cdk/.`,
    functions: FALLBACK_LAMBDA_CONFIGS,
  };
}
