package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/dcrm-project/dcrm/scripts/devstack/cognito"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/shared/consoleauth"
)

// envUserPoolID names the deployed Cognito user pool (the DcrmState stack's ConsoleUserPoolId
// output); when it is set, `dcrm user` manages that pool's users through the AWS SDK.
const envUserPoolID = "DCRM_AUTH_USER_POOL_ID"

var errUserUsage = errors.New(`usage:
  dcrm user add NAME --role viewer|marketer|operator|admin [--email ADDRESS]
      prints a temporary password, once; NAME chooses their own at the first sign-in
  dcrm user list
  dcrm user rm NAME
  (the deployed pool when ` + envUserPoolID + ` is set, else the local host's: ` + stack.EnvAuthDir + ` from .dcrm/local.env)`)

// consoleUser is a console user as `dcrm user list` shows them.
type consoleUser struct {
	Name    string
	Email   string
	Groups  []string
	Status  string
	Created time.Time
}

// userPool is where the console's users live: the local host's pool or a Cognito user pool.
type userPool interface {
	add(ctx context.Context, name, email string, role consoleauth.Role, temporaryPassword string) error
	list(ctx context.Context) ([]consoleUser, error)
	remove(ctx context.Context, name string) error
	describe() string
}

// userCmd runs `dcrm user add|list|rm`.
func userCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errUserUsage
	}
	pool, err := openUserPool(ctx, os.Getenv)
	if err != nil {
		return err
	}
	return runUser(ctx, pool, args[0], args[1:], out, time.Now())
}

// openUserPool picks the pool from the environment.
func openUserPool(ctx context.Context, getenv func(string) string) (userPool, error) {
	if id := getenv(envUserPoolID); id != "" {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("load aws config: %w", err)
		}
		return cognitoPool{client: cip.NewFromConfig(cfg), id: id}, nil
	}
	if dir := getenv(stack.EnvAuthDir); dir != "" {
		return localPool{dir: cognito.Dir(dir)}, nil
	}
	return nil, fmt.Errorf("no user pool: set %s to the deployed pool's id (the DcrmState stack's output ConsoleUserPoolId), or source .dcrm/local.env for the local host's (%s)",
		envUserPoolID, stack.EnvAuthDir)
}

func runUser(ctx context.Context, pool userPool, cmd string, args []string, out io.Writer, now time.Time) error {
	switch cmd {
	case "add":
		fs := flag.NewFlagSet("user add", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		roleName := fs.String("role", "", "viewer, marketer, operator or admin")
		email := fs.String("email", "", "the user's e-mail address (optional)")
		names, err := parseInterleaved(fs, args)
		if err != nil || len(names) != 1 || *roleName == "" {
			return errUserUsage
		}
		role, ok := consoleauth.ParseRole(*roleName)
		if !ok {
			return fmt.Errorf("--role %q: want viewer, marketer, operator or admin", *roleName)
		}
		if err := cognito.CheckUsername(names[0]); err != nil {
			return err
		}
		password := cognito.NewPassword()
		if err := pool.add(ctx, names[0], *email, role, password); err != nil {
			return err
		}
		fmt.Fprintf(out, "added %s to %s as %s (scopes: %s)\n", strings.ToLower(names[0]), pool.describe(), role, scopeNames(role))
		fmt.Fprintf(out, "temporary password, shown once (%s chooses their own at the first sign-in):\n%s\n", strings.ToLower(names[0]), password)
		return nil
	case "list":
		if len(args) > 0 {
			return errUserUsage
		}
		users, err := pool.list(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tROLES\tSTATUS\tEMAIL\tCREATED")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, userDash(strings.Join(u.Groups, ",")), u.Status, userDash(u.Email), u.Created.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	case "rm":
		if len(args) != 1 {
			return errUserUsage
		}
		if err := pool.remove(ctx, args[0]); err != nil {
			return err
		}
		fmt.Fprintf(out, "removed %s from %s (tokens already issued stay valid until they expire, at most %s)\n",
			strings.ToLower(args[0]), pool.describe(), consoleauth.AccessTokenLifetime)
		return nil
	}
	return errUserUsage
}

func scopeNames(r consoleauth.Role) string {
	var names []string
	for _, s := range r.Scopes() {
		names = append(names, string(s))
	}
	return strings.Join(names, ",")
}

func userDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// localPool is the local host's user pool (scripts/devstack/cognito), in its folder.
type localPool struct{ dir cognito.Dir }

func (p localPool) describe() string { return "the local user pool (" + string(p.dir) + ")" }

func (p localPool) add(_ context.Context, name, email string, role consoleauth.Role, password string) error {
	_, err := p.dir.AddUser(name, email, []string{string(role)}, password, true, time.Now())
	return err
}

func (p localPool) list(context.Context) ([]consoleUser, error) {
	pool, err := p.dir.Load()
	if err != nil {
		return nil, err
	}
	var out []consoleUser
	for _, u := range pool.Users {
		out = append(out, consoleUser{Name: u.Username, Email: u.Email, Groups: u.Groups, Status: u.Status, Created: u.Created})
	}
	slices.SortFunc(out, func(a, b consoleUser) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (p localPool) remove(_ context.Context, name string) error { return p.dir.RemoveUser(name) }

// cognitoAPI is the part of Cognito's client that cognitoPool uses.
type cognitoAPI interface {
	AdminCreateUser(context.Context, *cip.AdminCreateUserInput, ...func(*cip.Options)) (*cip.AdminCreateUserOutput, error)
	AdminAddUserToGroup(context.Context, *cip.AdminAddUserToGroupInput, ...func(*cip.Options)) (*cip.AdminAddUserToGroupOutput, error)
	AdminDeleteUser(context.Context, *cip.AdminDeleteUserInput, ...func(*cip.Options)) (*cip.AdminDeleteUserOutput, error)
	AdminUserGlobalSignOut(context.Context, *cip.AdminUserGlobalSignOutInput, ...func(*cip.Options)) (*cip.AdminUserGlobalSignOutOutput, error)
	ListUsers(context.Context, *cip.ListUsersInput, ...func(*cip.Options)) (*cip.ListUsersOutput, error)
	ListUsersInGroup(context.Context, *cip.ListUsersInGroupInput, ...func(*cip.Options)) (*cip.ListUsersInGroupOutput, error)
}

// cognitoPool is a deployed Cognito user pool: the CDK app's, with a group per role.
type cognitoPool struct {
	client cognitoAPI
	id     string
}

func (p cognitoPool) describe() string { return "Cognito user pool " + p.id }

// add creates the user with the temporary password (Cognito sends no message: the password is
// printed here, once) and puts them in the role's group. A user whose group cannot be set is
// removed again, so no user is left without a role.
func (p cognitoPool) add(ctx context.Context, name, email string, role consoleauth.Role, password string) error {
	in := &cip.AdminCreateUserInput{UserPoolId: aws.String(p.id), Username: aws.String(name),
		TemporaryPassword: aws.String(password), MessageAction: ciptypes.MessageActionTypeSuppress}
	if email != "" {
		in.UserAttributes = []ciptypes.AttributeType{{Name: aws.String("email"), Value: aws.String(email)},
			{Name: aws.String("email_verified"), Value: aws.String("true")}}
	}
	if _, err := p.client.AdminCreateUser(ctx, in); err != nil {
		var exists *ciptypes.UsernameExistsException
		if errors.As(err, &exists) {
			return fmt.Errorf("%w: %s", cognito.ErrUserExists, name)
		}
		return fmt.Errorf("create user %s: %w", name, err)
	}
	if _, err := p.client.AdminAddUserToGroup(ctx, &cip.AdminAddUserToGroupInput{UserPoolId: aws.String(p.id),
		Username: aws.String(name), GroupName: aws.String(string(role))}); err != nil {
		_, _ = p.client.AdminDeleteUser(ctx, &cip.AdminDeleteUserInput{UserPoolId: aws.String(p.id), Username: aws.String(name)})
		return fmt.Errorf("add user %s to group %s (the user was removed again): %w", name, role, err)
	}
	return nil
}

// list reads the users, and the role groups' members (a call per role rather than one per user).
func (p cognitoPool) list(ctx context.Context) ([]consoleUser, error) {
	groups := map[string][]string{}
	for _, r := range consoleauth.Roles() {
		pages := cip.NewListUsersInGroupPaginator(p.client, &cip.ListUsersInGroupInput{UserPoolId: aws.String(p.id), GroupName: aws.String(string(r))})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("list group %s: %w", r, err)
			}
			for _, u := range page.Users {
				groups[aws.ToString(u.Username)] = append(groups[aws.ToString(u.Username)], string(r))
			}
		}
	}
	var out []consoleUser
	pages := cip.NewListUsersPaginator(p.client, &cip.ListUsersInput{UserPoolId: aws.String(p.id)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		for _, u := range page.Users {
			cu := consoleUser{Name: aws.ToString(u.Username), Status: string(u.UserStatus), Created: aws.ToTime(u.UserCreateDate)}
			cu.Groups = groups[cu.Name]
			for _, a := range u.Attributes {
				if aws.ToString(a.Name) == "email" {
					cu.Email = aws.ToString(a.Value)
				}
			}
			out = append(out, cu)
		}
	}
	slices.SortFunc(out, func(a, b consoleUser) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// remove signs the user out everywhere (their refresh tokens stop working) and deletes them.
func (p cognitoPool) remove(ctx context.Context, name string) error {
	if _, err := p.client.AdminUserGlobalSignOut(ctx, &cip.AdminUserGlobalSignOutInput{UserPoolId: aws.String(p.id), Username: aws.String(name)}); err != nil {
		var missing *ciptypes.UserNotFoundException
		if errors.As(err, &missing) {
			return fmt.Errorf("%w: %s", cognito.ErrNoSuchUser, name)
		}
		return fmt.Errorf("sign out user %s: %w", name, err)
	}
	if _, err := p.client.AdminDeleteUser(ctx, &cip.AdminDeleteUserInput{UserPoolId: aws.String(p.id), Username: aws.String(name)}); err != nil {
		return fmt.Errorf("delete user %s: %w", name, err)
	}
	return nil
}
