/**
 * Every price `npm run cost` uses — published us-east-1 (N. Virginia) list prices, on-demand, in
 * USD, without free tiers — in this one file.
 *
 * TAKEN ON 2026-11-27, from the stored copies of public pages the search tool returned that day
 * (the live AWS pages could not be opened from this machine). Each figure names where it was
 * read and how sure it is:
 *   - `aws`: read on an AWS page (pricing page, AWS documentation or AWS blog);
 *   - `third-party`: the AWS pricing page's text did not show the figure (its tables are rendered
 *     by script), so it was read on dated third-party pricing guides that agree with each other.
 *     NOT VERIFIED on AWS's own page: check these against https://aws.amazon.com/<service>/pricing/
 *     before quoting a bill.
 */

export type PriceSource = 'aws' | 'third-party';

export interface Price {
  /** USD per `unit` */
  usd: number;
  unit: string;
  source: PriceSource;
  /** where it was read (and the page's own date when it shows one) */
  from: string;
  note?: string;
}

export const PRICES_TAKEN_ON = '2026-11-27';
export const PRICES_REGION = 'us-east-1';

export const AWS_PRICES = {
  stepFunctionsStandardTransition: {
    usd: 0.025 / 1000,
    unit: 'state transition',
    source: 'aws',
    from: 'aws.amazon.com/step-functions/pricing — "US East (N. Virginia) $0.0250 per 1,000 state transitions"; retries count as transitions',
    note: 'free tier 4,000 transitions/month (not applied here)',
  },
  stepFunctionsExpressRequest: {
    usd: 1.0 / 1_000_000,
    unit: 'Express execution (request)',
    source: 'aws',
    from: 'AWS Compute Blog "Building cost-effective AWS Step Functions workflows" — "$1.00 per million invocations versus $25 per million for Standard"',
    note: 'docs/cost.md comparison only: Express cannot run this definition (no .waitForTaskToken, 5-minute limit)',
  },
  stepFunctionsExpressGbSecond: {
    usd: 0.00001667,
    unit: 'GB-second of Express duration (first tier, 64 MB chunks, 100 ms rounding)',
    source: 'third-party',
    from: 'wring.co "AWS Step Functions Pricing: Standard vs Express" (2026-03-14)',
    note: 'docs/cost.md comparison only',
  },
  lambdaRequest: {
    usd: 0.2 / 1_000_000,
    unit: 'Lambda request',
    source: 'third-party',
    from: 'cloudchipr.com "AWS Lambda Pricing Breakdown" (2024); lambda_local_runner cost notes; the same $0.20 per million is on aws.amazon.com/lambda/pricing for Lambda Managed Instances',
    note: 'free tier 1M requests/month (not applied)',
  },
  lambdaGbSecondArm64: {
    usd: 0.0000133334,
    unit: 'GB-second, arm64 (first 7.5 billion GB-s/month)',
    source: 'third-party',
    from: 'cloudchipr.com "AWS Lambda Pricing Breakdown" (2024); artillery lib/platform/aws-lambda/prices.js (base arm64 1333340e-10)',
    note: 'free tier 400,000 GB-s/month shared by both architectures (not applied)',
  },
  lambdaGbSecondX86: {
    usd: 0.0000166667,
    unit: 'GB-second, x86_64 (first 6 billion GB-s/month)',
    source: 'third-party',
    from: 'cloudchipr.com "AWS Lambda Pricing Breakdown" (2024); artillery lib/platform/aws-lambda/prices.js (base x86_64 1666670e-10)',
  },
  sqsFifoRequest: {
    usd: 0.5 / 1_000_000,
    unit: 'SQS FIFO request (per 64 KB chunk of payload)',
    source: 'third-party',
    from: 'cloudburn.io "Amazon SQS Pricing" (2026-03-14); factualminds.com "Amazon SQS Pricing: The 64 KB Rule" (2026-06-13); the 64 KB chunk rule is on aws.amazon.com/sqs/features',
    note: 'free tier 1M requests/month (not applied)',
  },
  dynamoDbWriteRequestUnit: {
    usd: 0.625 / 1_000_000,
    unit: 'on-demand write request unit (1 KB)',
    source: 'third-party',
    from: 'airbyte.com "Amazon DynamoDB Pricing" (2025-07-21, after the November 2024 on-demand price cut); unit definitions on aws.amazon.com/dynamodb/pricing/on-demand',
  },
  dynamoDbReadRequestUnit: {
    usd: 0.125 / 1_000_000,
    unit: 'on-demand read request unit (4 KB strongly consistent)',
    source: 'third-party',
    from: 'airbyte.com "Amazon DynamoDB Pricing" (2025-07-21)',
    note: 'one older third-party page still quotes $0.25 per million (the pre-November-2024 price): verify',
  },
  s3PutRequest: {
    usd: 0.005 / 1000,
    unit: 'S3 Standard PUT, COPY, POST or LIST request',
    source: 'third-party',
    from: 'c3x.dev "S3 request fees explained"; awsi.click "Why S3 Request Pricing Differs Between GET and PUT" (us-east-1)',
  },
  s3GetRequest: {
    usd: 0.0004 / 1000,
    unit: 'S3 Standard GET, SELECT or HEAD request',
    source: 'third-party',
    from: 'c3x.dev "S3 request fees explained"; awsi.click (us-east-1)',
  },
  cloudWatchLogsIngestionGb: {
    usd: 0.5,
    unit: 'GB of CloudWatch Logs ingested (Standard class; vended logs start at the same rate)',
    source: 'third-party',
    from: 'c3x.dev "CloudWatch Logs cost optimization" (us-east-1, June 2026); hykell.com; factualminds.com',
    note: 'free tier 5 GB/month (not applied); storage ($0.03/GB-month) not included',
  },
  apiGatewayRestRequest: {
    usd: 3.5 / 1_000_000,
    unit: 'API Gateway REST API call (first 333 million/month)',
    source: 'aws',
    from: 'docs.aws.amazon.com whitepaper "Best Practices for Designing Amazon API Gateway Private APIs", Table 4 (REST: $3.50 per million)',
  },
} as const satisfies Record<string, Price>;

export type PriceName = keyof typeof AWS_PRICES;

/** The figures that could not be read on an AWS page. */
export const UNVERIFIED_PRICES: PriceName[] = (Object.keys(AWS_PRICES) as PriceName[]).filter((k) => AWS_PRICES[k].source !== 'aws');
