package cli

import "github.com/spf13/cobra"

// Command is the command tree as users get it, completion command and
// help and version flags included (cobra adds those only when the program
// runs): what internal/gendocs writes the man pages and shell completions
// from.
func Command() *cobra.Command {
	root := newRootCmd(newApp())
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpFlag()
	root.InitDefaultVersionFlag()
	return root
}
