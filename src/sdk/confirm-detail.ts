import type { ConfirmationAnswer, VersionToConfirm } from './confirm.js'

// Apart from confirm.ts, which imports the canonical JSON code, so that the CLI can word a failure
// without loading it (test/cli/lazy-imports.test.ts).

/**
 * One line saying what each node asked answered, `names[i]` naming the i-th: what a failure that
 * was not confirmed tells a person.
 */
export function confirmationDetail(
  target: VersionToConfirm,
  confirmation: { agreeing: number; answers: readonly ConfirmationAnswer[] },
  names: readonly string[],
): string {
  const said = confirmation.answers.map((a, i) => {
    const who = names[i] ?? `node ${i + 1}`
    if ('code' in a) return `${who} failed (${a.code})`
    if (a.hash_commit === null) return `${who} does not list it`
    if (a.hash_commit !== target.hash_commit) return `${who} lists ${a.hash_commit}`
    return a.differs === undefined ? `${who} agrees` : `${who} lists another ${a.differs.join(', ')}`
  })
  return `version ${target.version} of ${target.object_id} with hash_commit ${target.hash_commit} is not confirmed: ${confirmation.agreeing} of the ${confirmation.answers.length} nodes asked list it (${said.join('; ')})`
}
