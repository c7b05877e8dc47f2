import { EventType } from '../protocol/events.js';
import { abortableSleep } from './abortable-sleep.js';
import { AgentRunError } from './agent-run-error.js';
import { type AgentDefinition, defineAgent } from './define-agent.js';
import { evaluateArithmetic } from './evaluate-arithmetic.js';
import { findArithmetic } from './find-arithmetic.js';
import { clip, errorMessage } from './run-end.js';
import { SeededRandom } from './seeded-random.js';

/** Options of {@link createDemoAgent}. */
export interface DemoAgentOptions {
  /** `--demo-delay-ms`: pause between steps (a quarter of it between streamed chunks). Default 400. */
  readonly delayMs?: number;
  /** Seed of the canned choices; the same seed and question give the same run. Default 7. */
  readonly seed?: number;
  /** The agent's name. Default `demo`. */
  readonly name?: string;
}

/** One canned web-search hit. */
export interface SearchHit {
  readonly title: string;
  readonly url: string;
  readonly snippet: string;
}

const CANNED_HITS: readonly [SearchHit, ...SearchHit[]] = [
  {
    title: 'Arithmetic refresher',
    url: 'https://example.com/arithmetic',
    snippet: 'Order of operations, fractions and percentages.',
  },
  {
    title: 'How agents use tools',
    url: 'https://example.com/agents-tools',
    snippet: 'An agent plans, calls tools and reports back.',
  },
  {
    title: 'Streaming answers',
    url: 'https://example.com/streaming',
    snippet: 'Users trust answers they can watch being written.',
  },
  {
    title: 'Resumable event streams',
    url: 'https://example.com/resume',
    snippet: 'Sequence numbers let a client pick up where it left off.',
  },
  {
    title: 'Units and estimates',
    url: 'https://example.com/estimates',
    snippet: 'Round late, state assumptions, check magnitudes.',
  },
];

const CLOSINGS: readonly [string, ...string[]] = [
  'Ask me another one!',
  'Happy to dig deeper if you want.',
  'That is the short version.',
];

/** Words per `stream_chunk`. */
const WORDS_PER_CHUNK = 3;

/** Questions the demo can answer, offered when a message holds nothing to compute. */
const EXAMPLES: readonly [string, ...string[]] = [
  'What is 6 times 7?',
  'What is seven plus five?',
  "What's 12 divided by 4?",
  'What is the square root of 81?',
  'What is 17 * 23?',
];

/**
 * The built-in `demo` agent: deterministic, no network, a demo of streaming rather than of intelligence.
 * When the message asks for arithmetic (`17 * 23`, "six times seven", "square root of 81") it thinks,
 * calls a fake `web_search` (canned hits) and a real `calculator`, streams its answer in `stream_chunk`s
 * and ends with `agent_completed` / `succeeded`. When there is nothing to compute it says so, what it
 * can do and an example, and calls no tool: it never invents a sum. When the message holds the word
 * "email" it first asks the user (`ctx.approval`) before a `send_email` tool: approved, the tool runs;
 * denied or expired, it does not, and the answer says so. Its pauses abort with the run, so a cancel
 * ends it at once.
 */
export function createDemoAgent(options: DemoAgentOptions = {}): AgentDefinition {
  const delayMs = options.delayMs ?? 400;
  const seed = options.seed ?? 7;
  return defineAgent({
    name: options.name ?? 'demo',
    async *run(input, ctx) {
      const random = new SeededRandom(SeededRandom.seedFor(seed, input.text));
      const pause = (ms: number) => abortableSleep(ms, ctx.signal);
      const expression = findArithmetic(input.text);
      const question = clip(input.text, 80);
      const email = EMAIL_WORD.test(input.text) ? emailOf(input.text) : undefined;
      await pause(delayMs);
      yield {
        type: EventType.AgentThinking,
        data: {
          reasoning:
            email !== undefined
              ? `The question is "${question}". It asks for an email: I will ask you before I send one to ${email.to}.`
              : expression === undefined
                ? `The question is "${question}". I see no arithmetic in it to compute, so I will say what I can do.`
                : `The question is "${question}". Plan: search for context, compute ${expression}, then answer.`,
        },
      };
      let answer: string;
      let sent = '';
      if (email !== undefined) {
        // docs/agents.md, the built-in demo agent: an email is sent only with the user's approval.
        const { decision } = await ctx.approval({
          tool_name: 'send_email',
          tool_args: { ...email },
          message: `Send an email to ${email.to} with the subject "${email.subject}"?`,
        });
        await pause(delayMs);
        if (decision === 'approved') {
          yield* ctx.tool('send_email', { ...email }, () => ({ sent: true, to: email.to }));
          sent = `I sent the email to ${email.to}.`;
        } else {
          sent = `I did not send the email to ${email.to}: the request was ${decision}.`;
        }
      }
      if (expression === undefined) {
        answer =
          email !== undefined
            ? sent
            : `I am the agentcast demo agent: I only compute arithmetic, and I found none in your message. Try "${random.pick(EXAMPLES)}"`;
      } else {
        await pause(delayMs);
        const hits = yield* ctx.tool('web_search', { query: clip(input.text, 100) }, () => pickHits(random));
        await pause(delayMs);
        let computed: string;
        try {
          const value = yield* ctx.tool('calculator', { expression }, () => calculate(expression));
          computed = `${expression} = ${formatNumber(value)}.`;
        } catch (error) {
          computed = `I could not compute ${expression}: ${errorMessage(error)}.`;
        }
        answer = `${sent === '' ? '' : `${sent} `}I found ${hits.length} sources: "${hits[0].title}" and "${hits[1].title}". ${computed} ${random.pick(CLOSINGS)}`;
      }
      for (const text of chunk(answer)) {
        await pause(delayMs / 4);
        yield { type: EventType.StreamChunk, data: { text } };
      }
      yield { type: EventType.AgentCompleted, data: { status: 'succeeded', final_response: answer } };
    },
  });
}

/** A message that asks for an email (case-insensitive): the demo asks approval before `send_email`. */
const EMAIL_WORD = /email/i;
/** The first address in the message, if any, is the recipient. */
const ADDRESS = /[\w.+-]+@[\w-]+(?:\.[\w-]+)+/;
/** The recipient when the message names none. */
const DEFAULT_RECIPIENT = 'friend@example.com';

/** The `send_email` arguments the demo proposes for a message: deterministic, read from its text. */
function emailOf(text: string): { readonly to: string; readonly subject: string } {
  return { to: ADDRESS.exec(text)?.[0] ?? DEFAULT_RECIPIENT, subject: 'Hello from the agentcast demo' };
}

/** Twelve significant digits at most, so `0.1 + 0.2` reads 0.3 and `10 / 3` 3.33333333333. */
function formatNumber(value: number): string {
  return String(Number(value.toPrecision(12)));
}

/**
 * The calculator tool. What `evaluateArithmetic` refuses (`division by zero`) is said for the user, so it
 * is thrown as an AgentRunError: its message, unlike a plain error's, is shown in `tool_completed`.
 */
function calculate(expression: string): number {
  try {
    return evaluateArithmetic(expression);
  } catch (error) {
    throw new AgentRunError('CALCULATOR_ERROR', errorMessage(error));
  }
}

function pickHits(random: SeededRandom): readonly [SearchHit, SearchHit] {
  const first = random.int(0, CANNED_HITS.length - 1);
  const second = (first + random.int(1, CANNED_HITS.length - 1)) % CANNED_HITS.length;
  return [CANNED_HITS[first] ?? CANNED_HITS[0], CANNED_HITS[second] ?? CANNED_HITS[0]];
}

/** Splits text into chunks of a few words that concatenate back to the text exactly. */
export function chunk(text: string): string[] {
  const words = text.split(/(?<= )/);
  const chunks: string[] = [];
  for (let i = 0; i < words.length; i += WORDS_PER_CHUNK) {
    chunks.push(words.slice(i, i + WORDS_PER_CHUNK).join(''));
  }
  return chunks;
}
