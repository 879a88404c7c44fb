import type { SmartHostTestResult, TranscriptLine } from '../../../core/api/model.ts';

const PREFIX: Readonly<Record<TranscriptLine['direction'], string>> = {
  client: 'C:',
  server: 'S:',
  info: '*',
};

/** Prefixes every line of a (possibly multi-line) transcript entry. */
function transcriptText(lines: readonly TranscriptLine[]): string {
  return lines
    .flatMap((line) => line.text.split('\n').map((part) => `${PREFIX[line.direction]} ${part}`))
    .join('\n');
}

/** Outcome of a smart-host test: the verdict in words, the reply, and the dialogue. */
export function TestResultView({ result }: { result: SmartHostTestResult }) {
  return (
    <div className={`test-result ${result.ok ? 'test-ok' : 'test-failed'}`}>
      <h3>{result.ok ? 'It worked' : 'It did not work'}</h3>
      <p className="test-explanation">{result.explanation}</p>
      {result.advice ? <p className="test-advice">{result.advice}</p> : null}
      <p>
        Smart host&apos;s reply: <code className="reply">{result.reply || '(none)'}</code>
      </p>
      <details open={!result.ok}>
        <summary>
          Dialogue with {result.smartHost} ({result.transcript.length} lines, {Math.round(result.durationMs)} ms)
        </summary>
        <pre className="transcript" aria-label="SMTP dialogue, C: sent by the relay, S: the smart host's replies">
          {transcriptText(result.transcript)}
        </pre>
      </details>
    </div>
  );
}
