import { startVoiceCallHarness } from '../test/harness/voice-call-harness.js';
const variant = (process.argv[2] ?? 'hybrid') as 'hybrid';
const h = await startVoiceCallHarness({ variant, openaiReply: () => 'Of course, you are Sam. What can I do for you today?', lettaReply: () => 'Of course, you are Sam. What can I do for you today?' });
const lines = ['Hi there, do you remember my name?', 'What should I pack for a cold morning on the water?', 'Thanks a lot for the help.'];
for (const l of lines) { const t = await h.say(l); console.log(JSON.stringify({ b: t.breakdown, tl: { ...t.timeline, rel: Object.fromEntries(Object.entries(t.timeline).filter(([k,v]) => typeof v === 'number' && k.endsWith('At')).map(([k,v]) => [k, Math.round((v as number) - t.timeline.speechEnd)])) } }, (k, v) => typeof v === 'number' ? Math.round(v) : v)); }
await h.close();
