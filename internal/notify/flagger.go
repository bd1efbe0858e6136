// Package notify sends messages to chat and alerting services. This file
// holds the shapes Flagger's AlertProvider types post (slack, discord,
// rocket, msteams, gchat), so a team's channels receive from Vireo what they
// received from Flagger.
package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/vireo-dev/vireo/internal/notifications"
)

// Field is one name and value shown under a message.
type Field struct {
	Name, Value string
}

// Alert is one message about a workload.
type Alert struct {
	Workload, Namespace string
	Message             string
	// Severity is info, warn or error.
	Severity string
	Fields   []Field
}

// Endpoint is where an AlertProvider posts: its type, address (webhook
// URL), optional bearer token and proxy, and the username and channel the
// slack-shaped services show.
type Endpoint struct {
	Type, Address, Token, Proxy, Username, Channel string
}

// Timeout bounds one post.
const Timeout = 5 * time.Second

// AlertTypes are the AlertProvider types Vireo posts to.
var AlertTypes = []string{"slack", "discord", "rocket", "msteams", "gchat"}

type slackPayload struct {
	Channel     string            `json:"channel"`
	Username    string            `json:"username"`
	IconURL     string            `json:"icon_url"`
	IconEmoji   string            `json:"icon_emoji"`
	Text        string            `json:"text,omitempty"`
	Attachments []slackAttachment `json:"attachments,omitempty"`
}

type slackAttachment struct {
	Color      string       `json:"color"`
	AuthorName string       `json:"author_name"`
	Text       string       `json:"text"`
	MrkdwnIn   []string     `json:"mrkdwn_in"`
	Fields     []slackField `json:"fields"`
}

type slackField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

type teamsPayload struct {
	Type       string         `json:"@type"`
	Context    string         `json:"@context"`
	ThemeColor string         `json:"themeColor"`
	Summary    string         `json:"summary"`
	Sections   []teamsSection `json:"sections"`
}

type teamsSection struct {
	ActivityTitle    string  `json:"activityTitle"`
	ActivitySubtitle string  `json:"activitySubtitle"`
	Facts            []Field `json:"facts"`
}

type gchatPayload struct {
	Cards []gchatCard `json:"cards"`
}

type gchatCard struct {
	Header   gchatHeader    `json:"header"`
	Sections []gchatSection `json:"sections"`
}

type gchatHeader struct {
	Title    string `json:"title"`
	SubTitle string `json:"subtitle"`
	ImageURL string `json:"imageUrl"`
}

type gchatSection struct {
	Widgets []gchatWidget `json:"widgets"`
}

type gchatWidget struct {
	TextParagraph struct {
		Text string `json:"text"`
	} `json:"textParagraph"`
}

func (f Field) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}{f.Name, f.Value})
}

// Payload builds what an AlertProvider of the endpoint's type posts, and
// the URL it posts to.
func Payload(e Endpoint, a Alert) (string, any, error) {
	if _, err := url.ParseRequestURI(e.Address); err != nil {
		return "", nil, fmt.Errorf("invalid %s webhook URL", e.Type)
	}
	who := a.Workload + "." + a.Namespace
	slackShaped := func(color string) any {
		fields := make([]slackField, 0, len(a.Fields))
		for _, f := range a.Fields {
			fields = append(fields, slackField{Title: f.Name, Value: f.Value})
		}
		return slackPayload{Channel: e.Channel, Username: e.Username, IconEmoji: ":rocket:",
			Attachments: []slackAttachment{{Color: color, AuthorName: who, Text: a.Message, MrkdwnIn: []string{"text"}, Fields: fields}}}
	}
	switch e.Type {
	case "slack", "discord":
		color := "good"
		if a.Severity == "error" {
			color = "danger"
		}
		addr := e.Address
		if e.Type == "discord" && !strings.HasSuffix(addr, "/slack") {
			// Discord takes Slack's payload at the hook's /slack path.
			u, _ := url.Parse(addr)
			u.Path = path.Join(u.Path, "slack")
			addr = u.String()
		}
		return addr, slackShaped(color), nil
	case "rocket":
		color := "#0076D7"
		if a.Severity == "error" {
			color = "#FF0000"
		}
		return e.Address, slackShaped(color), nil
	case "msteams":
		color := "0076D7"
		if a.Severity == "error" {
			color = "FF0000"
		}
		facts := a.Fields
		if facts == nil {
			facts = []Field{}
		}
		return e.Address, teamsPayload{Type: "MessageCard", Context: "http://schema.org/extensions", ThemeColor: color, Summary: who,
			Sections: []teamsSection{{ActivityTitle: a.Message, ActivitySubtitle: who, Facts: facts}}}, nil
	case "gchat":
		widget := func(text string) gchatSection {
			var w gchatWidget
			w.TextParagraph.Text = text
			return gchatSection{Widgets: []gchatWidget{w}}
		}
		sections := []gchatSection{widget("<font color=#848484><strong>" + a.Message + "</strong></font>")}
		for _, f := range a.Fields {
			sections = append(sections, widget(f.Name+"<br><font color=#848484><strong>"+f.Value+"</strong></font>"))
		}
		return e.Address, gchatPayload{Cards: []gchatCard{{Header: gchatHeader{Title: "Flagger", SubTitle: who,
			ImageURL: "https://flagger.app/favicon.png"}, Sections: sections}}}, nil
	}
	return "", nil, fmt.Errorf("alert provider type %q is not one of %v", e.Type, AlertTypes)
}

// PostAlert posts an alert to an endpoint, within Timeout.
func PostAlert(ctx context.Context, e Endpoint, a Alert) error {
	addr, body, err := Payload(e, a)
	if err != nil {
		return err
	}
	return postJSON(ctx, addr, e.Token, e.Proxy, body)
}

// postJSON posts a JSON body through the notification senders' Post (the
// same guarded transport, proxy and errors as Argo Rollouts'
// notifications); a 2xx answer is success. The token, when set, is sent as
// a bearer token. Errors never carry the address beyond its host (it is
// often the secret).
func postJSON(ctx context.Context, address, token, proxy string, body any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encoding the message: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	header := http.Header{}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	_, err = notifications.Post(ctx, notifications.Request{Service: "alert", URL: address, Header: header, Body: data, Proxy: proxy, SecretURL: true})
	return err
}
