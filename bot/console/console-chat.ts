import os from 'node:os';
import readline from 'node:readline';
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { BotReply, Conversations, Place, Speaker } from '../conversations.ts';
import { formatBytes, formatDuration, formatRate } from '../../jobs/figures.ts';
import type { ProgressReporter, ProgressSurface, ProgressView } from '../progress-reporter.ts';

// The conversation on a terminal: a line typed is a message, replies are printed, a confirmation
// is answered y or n, offered choices by their number, and each job gets a live bar. When the
// output is not a terminal (a pipe, a log), progress is printed as lines instead of bars.

export interface ConsoleChatOptions {
  conversations: Conversations;
  reporter: ProgressReporter;
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream & { isTTY?: boolean };
}

const PROMPT = 'you> ';
const SPEAKER = 'ferry> ';

export class ConsoleChat {
  private readonly place: Place;
  private readonly speaker: Speaker;
  private readonly output: NodeJS.WritableStream & { isTTY?: boolean };
  private readonly input: NodeJS.ReadableStream;
  private readonly bars: MultiBar | null;
  private readonly barOf = new Map<string, SingleBar>();
  /** The values of the choices last offered, so "2" picks the second. */
  private offered: string[] = [];

  constructor(private readonly options: ConsoleChatOptions) {
    this.input = options.input ?? process.stdin;
    this.output = options.output ?? process.stdout;
    const user = os.userInfo().username;
    this.place = { surface: 'console', conversation: `console:${os.hostname()}:${process.pid}`, where: `terminal of ${user}@${os.hostname()}` };
    this.speaker = { principal: { terminal: true }, who: user };
    this.bars = this.output.isTTY
      ? new MultiBar(
          { stream: this.output as NodeJS.WriteStream, format: '{recordId} {phase} [{bar}] {percentage}% {figures}', hideCursor: false, clearOnComplete: false, stopOnComplete: false },
          Presets.shades_classic,
        )
      : null;
    options.reporter.addSurface(this.progressSurface());
  }

  /** Reads lines until the input ends; each is answered before the next is read. */
  async run(): Promise<void> {
    const lines = readline.createInterface({ input: this.input, terminal: false });
    this.say('Hello. Tell me what to do, or say "help". Ctrl-D ends the chat.');
    this.prompt();
    for await (const line of lines) {
      const text = line.trim();
      if (text) this.show(await this.options.conversations.say(this.place, this.speaker, this.picked(text)));
      this.prompt();
    }
    this.bars?.stop();
  }

  /** A number answering offered choices stands for the choice. */
  private picked(text: string): string {
    const index = /^\d+$/.test(text) ? Number(text) - 1 : -1;
    const value = this.offered[index];
    this.offered = [];
    return value ?? text;
  }

  private show(reply: BotReply): void {
    const controls = reply.controls;
    if (controls?.kind === 'confirm') return this.say(`${reply.text} [y/n]`);
    if (controls?.kind === 'choose') return this.say([reply.text, ...controls.options.map((option, i) => `  ${i + 1}) ${option.label}`)].join('\n'));
    if (controls?.kind === 'answer') {
      this.offered = controls.choices.map((choice) => choice.value);
      return this.say([reply.text, ...controls.choices.map((choice, i) => `  ${i + 1}) ${choice.label}`)].join('\n'));
    }
    this.say(reply.text);
  }

  private say(text: string): void {
    const lines = text.split('\n').map((line, i) => (i === 0 ? SPEAKER : ' '.repeat(SPEAKER.length)) + line);
    // While bars are drawn, text goes above them; cli-progress prints it only while it draws.
    if (this.bars && this.barOf.size > 0) this.bars.log(`${lines.join('\n')}\n`);
    else this.output.write(`${lines.join('\n')}\n`);
  }

  private prompt(): void {
    if (this.output.isTTY) this.output.write(PROMPT);
  }

  private progressSurface(): ProgressSurface {
    const draw = (view: ProgressView): void => {
      if (!this.bars) return this.say(view.text);
      const progress = view.progress;
      const payload = {
        recordId: view.recordId,
        phase: progress?.phase ?? 'starting',
        figures: progress ? `${formatBytes(progress.done)} of ${formatBytes(progress.total)} · ${formatRate(progress.bytesPerSecond)}${progress.etaSeconds !== null ? ` · ETA ${formatDuration(progress.etaSeconds)}` : ''}` : '',
      };
      let bar = this.barOf.get(view.recordId);
      if (!bar) {
        bar = this.bars.create(Math.max(1, progress?.total ?? 1), 0, payload);
        this.barOf.set(view.recordId, bar);
      }
      if (progress) bar.setTotal(Math.max(1, progress.total));
      bar.update(progress?.done ?? 0, payload);
    };
    return {
      owns: (conversation) => conversation === this.place.conversation,
      post: async (_conversation, view) => {
        draw(view);
        return view.recordId;
      },
      update: async (_conversation, _message, view) => draw(view),
      // Without bars the final text was printed by the last update already.
      ended: async (_conversation, view) => {
        const bar = this.barOf.get(view.recordId);
        if (!this.bars || !bar) return;
        this.bars.remove(bar);
        this.barOf.delete(view.recordId);
        this.say(view.text);
      },
    };
  }
}
