/** Where a hook's words for the admin go: its stderr, or (served by the agent) the reply to its shim. */
export type Stderr = (text: string) => void;

export const toStderr: Stderr = (text) => {
  process.stderr.write(text);
};
