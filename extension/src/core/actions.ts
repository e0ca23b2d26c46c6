/**
 * Code actions whose command the extension runs itself once they are resolved.
 *
 * The server's code actions are lazy: `codeAction/resolve` computes and verifies the
 * proposal (seconds), then answers with the command that reviews it (`hexad.review`).
 * While it computes, the server publishes the new proposal's diagnostic; VS Code then asks
 * for the file's code actions again and releases the old set, and a resolve that answers
 * after that release loses its command (VS Code 1.100's extension host converts the
 * resolved command only while the set is alive). So the extension takes a `hexad.*`
 * command out of the resolved action and runs it itself, the moment resolve answers.
 */

export interface ActionCommand {
  title: string;
  command: string;
  arguments?: unknown[];
}

export interface ResolvedAction {
  edit?: unknown;
  command?: ActionCommand;
}

/** The command to run in place of VS Code, or undefined to leave the action as it is. */
export function commandToRun(action: ResolvedAction | null | undefined): ActionCommand | undefined {
  const command = action?.command;
  if (command === undefined || !command.command.startsWith('hexad.')) {
    return undefined;
  }
  // an action with an edit keeps its order: VS Code applies the edit, then the command
  return action?.edit === undefined ? command : undefined;
}
